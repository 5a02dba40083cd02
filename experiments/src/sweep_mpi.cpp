// A sweep across the ranks of an MPI job: rank 0 owns the plan, the ledger and the schedule; every rank
// (rank 0 included) runs `jobs` slots and asks rank 0 for work when a slot is free. Run directories
// must be on a filesystem every rank sees (as usual for MPI clusters): a killed run resumes from its
// checkpoint on whichever rank picks it up next.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <thread>

#include "sweep_internal.hpp"
#include "symbreak/config.hpp"

#ifdef SYMBREAK_HAVE_MPI
#include <mpi.h>
#endif

namespace symbreak::experiments {

#ifdef SYMBREAK_HAVE_MPI

namespace {

using nlohmann::json;

enum Tag : int { kRequest = 1, kAssign = 2, kStop = 3, kOutcome = 4 };

void send(const json& j, int to, int tag) {
  const std::string s = j.dump();
  MPI_Send(s.data(), static_cast<int>(s.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD);
}

json receive(const MPI_Status& probed) {
  int count = 0;
  MPI_Get_count(&probed, MPI_CHAR, &count);
  std::string s(static_cast<std::size_t>(count), '\0');
  MPI_Recv(s.data(), count, MPI_CHAR, probed.MPI_SOURCE, probed.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return s.empty() ? json() : json::parse(s);
}

json spec_json(const JobSpec& j) {
  return {{"run_id", j.run_id},
          {"condition", j.condition},
          {"config", j.config_path},
          {"run_dir", j.run_dir},
          {"seed", j.seed},
          {"threads", j.threads},
          {"analysis", j.analysis},
          {"at_init", j.analysis_at_init},
          {"prompts", j.analysis_prompts},
          {"at_steps", j.analysis_at_steps}};
}

JobSpec spec_from(const json& j) {
  JobSpec s;
  s.run_id = j["run_id"];
  s.condition = j["condition"];
  s.config_path = j["config"];
  s.run_dir = j["run_dir"];
  s.seed = j["seed"];
  s.threads = j["threads"];
  s.analysis = j["analysis"];
  s.analysis_at_init = j["at_init"];
  s.analysis_prompts = j["prompts"];
  s.analysis_at_steps = j["at_steps"].get<std::vector<int>>();
  return s;
}

std::string host_name() {
  char b[256] = {};
  gethostname(b, sizeof b - 1);
  return b;
}

int coordinator(const SweepOptions& options, int ranks, int threads) {
  SweepScheduler scheduler(options, threads);
  scheduler.set_quiet(options.quiet);
  JobSlots slots(options.jobs, options.worker);
  const double threshold = scheduler.plan().converged_threshold;
  std::vector<std::pair<int, std::string>> waiting;  // ranks whose request found nothing pending yet
  std::vector<bool> stopped(static_cast<std::size_t>(ranks), false);
  stopped[0] = true;
  int remote_running = 0, live = ranks - 1;
  if (!options.quiet)
    std::cout << "sweep " << scheduler.plan().name << " over " << ranks << " MPI ranks × " << options.jobs << " slot(s), "
              << threads << " thread(s) each: " << scheduler.pending() << " runs to go\n"
              << std::flush;
  const auto report = [&] {
    if (!options.quiet) std::cout << scheduler.progress_line(ranks * options.jobs) << "\n" << std::flush;
  };
  while (true) {
    while (slots.has_free()) {
      const auto job = scheduler.next(0, host_name());
      if (!job) break;
      slots.start(*job);
    }
    for (auto it = waiting.begin(); it != waiting.end();) {
      const auto job = scheduler.next(it->first, it->second);
      if (!job) break;
      json a = spec_json(*job);
      send(a, it->first, kAssign);
      ++remote_running;
      it = waiting.erase(it);
    }
    for (const JobOutcome& o : slots.poll(threshold)) {
      if (o.ok) scheduler.finished(o.run_id, o.result);
      else scheduler.failed(o.run_id, o.error);
      report();
    }
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    while (flag) {
      const json msg = receive(st);
      if (st.MPI_TAG == kRequest) {
        waiting.emplace_back(st.MPI_SOURCE, msg.value("host", "?"));
      } else if (st.MPI_TAG == kOutcome) {
        --remote_running;
        if (msg["ok"].get<bool>()) scheduler.finished(msg["run_id"], msg["result"]);
        else scheduler.failed(msg["run_id"], msg["error"]);
        report();
      }
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    }
    // Done when nothing is pending or running anywhere: every waiting rank is told to stop.
    if (scheduler.pending() == 0 && !slots.busy() && remote_running == 0) {
      for (const auto& [rank, host] : waiting) {
        send(json(), rank, kStop);
        stopped[static_cast<std::size_t>(rank)] = true;
        --live;
      }
      waiting.clear();
      if (live == 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  scheduler.record_bookkeeping();
  write_sweep_results(scheduler.plan(), options.out_dir);
  if (!options.quiet) std::cout << sweep_status(options.plan_path, options.out_dir);
  return scheduler.failures() > 0 ? 1 : 0;
}

void worker(const SweepOptions& options) {
  JobSlots slots(options.jobs, options.worker);
  const double threshold = load_plan(options.plan_path).converged_threshold;
  bool asked = false, stop = false;
  while (!stop || slots.busy()) {
    if (!stop && !asked && slots.has_free()) {
      send({{"host", host_name()}}, 0, kRequest);
      asked = true;
    }
    for (const JobOutcome& o : slots.poll(threshold))
      send({{"run_id", o.run_id}, {"ok", o.ok}, {"result", o.result}, {"error", o.error}}, 0, kOutcome);
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (flag) {
      const json msg = receive(st);
      asked = false;
      if (st.MPI_TAG == kAssign) slots.start(spec_from(msg));
      else if (st.MPI_TAG == kStop) stop = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
  MPI_Init(argc, argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks_);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &local_);
  MPI_Comm_free(&node);
}

MpiSession::~MpiSession() { MPI_Finalize(); }

bool MpiSession::available() { return true; }

int run_sweep_mpi(const SweepOptions& options, MpiSession& mpi) {
  const int threads = options.threads.value_or(default_threads_per_job(options.jobs, mpi.ranks_on_host()));
  // Rank 0 reads the plan first; a bad plan stops every rank with the same message.
  std::string error;
  if (mpi.rank() == 0) {
    try {
      load_plan(options.plan_path);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  int error_size = static_cast<int>(error.size());
  MPI_Bcast(&error_size, 1, MPI_INT, 0, MPI_COMM_WORLD);
  error.resize(static_cast<std::size_t>(error_size));
  MPI_Bcast(error.data(), error_size, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!error.empty()) throw ConfigError(error);
  int rc = 0;
  try {
    if (mpi.rank() == 0) rc = coordinator(options, mpi.ranks(), threads);
    else worker(options);
  } catch (const std::exception& e) {
    std::cerr << "error: rank " << mpi.rank() << ": " << e.what() << "\n";
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);  // every rank returns the same code
  return rc;
}

#else

MpiSession::MpiSession(int*, char***) {
  throw ConfigError(
      "this symbreak was built without Open MPI (configure with -DSYMBREAK_WITH_MPI=ON; Debian: libopenmpi-dev openmpi-bin)");
}
MpiSession::~MpiSession() = default;
bool MpiSession::available() { return false; }
int run_sweep_mpi(const SweepOptions&, MpiSession&) { throw ConfigError("this symbreak was built without Open MPI"); }

#endif

bool MpiSession::launched_by_mpirun() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!size) size = std::getenv("PMI_SIZE");
  return size && std::atoi(size) > 1;
}

}  // namespace symbreak::experiments
