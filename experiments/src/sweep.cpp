// Running a sweep: a scheduler that owns the ledger, and job slots that run `symbreak train` and
// `symbreak analyze` as child processes. One machine here; sweep_mpi.cpp spreads the same slots over
// MPI ranks.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "sweep_internal.hpp"
#include "symbreak/experiments/stats.hpp"
#include "symbreak/experiments/trainer.hpp"
#include "symbreak/experiments/verdicts.hpp"
#include "symbreak/io.hpp"

namespace symbreak::experiments {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string hostname() {
  char b[256] = {};
  gethostname(b, sizeof b - 1);
  return b;
}

std::string duration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "?";
  if (seconds >= 3600) return fmt::format("{}h{:02}m", static_cast<int>(seconds / 3600), static_cast<int>(seconds) % 3600 / 60);
  if (seconds >= 60) return fmt::format("{}m{:02}s", static_cast<int>(seconds / 60), static_cast<int>(seconds) % 60);
  return fmt::format("{:.0f}s", seconds);
}

// The last lines of a log, for a failed run's error message.
std::string log_tail(const std::string& path, std::size_t max_chars = 600) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::runtime_error&) {
    return "";
  }
  if (text.size() > max_chars) text = "..." + text.substr(text.size() - max_chars);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace

// ---- the scheduler (rank 0) ----------------------------------------------------------------------

namespace {
// This process's own CPU seconds (the children are not counted).
double own_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}
}  // namespace

SweepScheduler::SweepScheduler(const SweepOptions& options, int default_threads)
    : plan_(load_plan(options.plan_path)), out_(options.out_dir), default_threads_(default_threads) {
  cpu_at_start_ = own_cpu_seconds();
  std::error_code ec;
  fs::create_directories(out_ + "/configs", ec);
  fs::create_directories(out_ + "/runs", ec);
  if (!fs::is_directory(out_ + "/runs")) throw ConfigError("--out " + out_ + ": cannot create the directory");
  // One sweep per directory at a time. The lock is not inherited by the children (O_CLOEXEC).
  lock_fd_ = ::open((out_ + "/.sweep.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw ConfigError("--out " + out_ + ": cannot create " + out_ + "/.sweep.lock");
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    throw ConfigError("--out " + out_ + ": another symbreak sweep is running on this directory");
  }
  ledger_ = std::make_unique<Ledger>(out_ + "/ledger.sqlite");
  ledger_->bind_plan(plan_);
  for (const PlanCondition& c : plan_.conditions) write_file_atomically(out_ + "/configs/" + c.name + ".json", c.config_json);
  ledger_->add_runs(plan_, plan_.seeds, {});
  ledger_->reset_interrupted();
  for (const PlanCondition& c : plan_.conditions) add_mixed_seeds(c.name);
  for (const RunRecord& r : ledger_->runs())
    if (r.status == RunStatus::pending) pending_.push_back(r.run_id);
  start_ = std::chrono::steady_clock::now();
}

SweepScheduler::~SweepScheduler() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void SweepScheduler::add_mixed_seeds(const std::string& condition) {
  if (plan_.seeds_if_mixed.empty()) return;
  int done = 0, converged = 0;
  for (const RunRecord& r : ledger_->runs()) {
    if (r.condition != condition) continue;
    if (std::find(plan_.seeds.begin(), plan_.seeds.end(), r.seed) == plan_.seeds.end()) continue;
    if (r.status != RunStatus::done) return;  // the first seeds are not all in yet
    ++done;
    converged += r.first_step_converged.has_value();
  }
  if (done == 0 || converged == 0 || converged == done) return;
  if (ledger_->add_runs(plan_, plan_.seeds_if_mixed, {condition}) > 0) {
    for (std::uint64_t s : plan_.seeds_if_mixed) pending_.push_back(run_id(condition, s));
    if (!quiet_)
      std::cout << "\n" << condition << ": " << converged << " of " << done << " seeds converged (mixed), adding seeds";
    for (std::uint64_t s : plan_.seeds_if_mixed)
      if (!quiet_) std::cout << " " << s;
    if (!quiet_) std::cout << "\n";
  }
}

std::optional<JobSpec> SweepScheduler::next(int rank, const std::string& host) {
  if (pending_.empty()) return std::nullopt;
  const std::string id = pending_.front();
  pending_.pop_front();
  const RunRecord r = *ledger_->run(id);
  JobSpec j;
  j.run_id = id;
  j.condition = r.condition;
  j.seed = r.seed;
  j.config_path = fs::absolute(out_ + "/configs/" + r.condition + ".json").string();
  j.run_dir = fs::absolute(out_ + "/runs/" + id).string();
  // A resumed run keeps the thread count it started with: same seed and threads give the same bits.
  j.threads = r.threads > 0 ? r.threads : default_threads_;
  j.analysis = plan_.analysis;
  j.analysis_prompts = plan_.analysis_prompts;
  j.analysis_at_init = plan_.analysis_at_init;
  j.analysis_at_steps = plan_.analysis_at_steps;
  const int resumed_from = std::max(0, checkpoint_step(j.run_dir + "/checkpoint.bin"));
  ledger_->mark_running(id, j.threads, rank, host, resumed_from);
  running_[id] = std::chrono::steady_clock::now();
  return j;
}

void SweepScheduler::finished(const std::string& id, const json& result) {
  const std::string condition = ledger_->run(id)->condition;
  ledger_->mark_done(id, result);
  durations_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - running_[id]).count());
  running_.erase(id);
  add_mixed_seeds(condition);
}

void SweepScheduler::failed(const std::string& id, const std::string& error) {
  ledger_->mark_failed(id, error);
  running_.erase(id);
  ++failures_;
  if (!quiet_) std::cout << "\nrun " << id << " failed: " << error << "\n";
}

void SweepScheduler::record_bookkeeping() {
  // Scheduling, the ledger and polling since this scheduler was made.
  const double seconds = own_cpu_seconds() - cpu_at_start_;
  const double before = std::stod(ledger_->meta("bookkeeping_cpu_seconds").value_or("0"));
  ledger_->set_meta("bookkeeping_cpu_seconds", std::to_string(before + seconds));
}

std::string SweepScheduler::progress_line(int slots) const {
  int done = 0, failed = 0, total = 0;
  std::vector<double> walls;
  for (const RunRecord& r : ledger_->runs()) {
    ++total;
    done += r.status == RunStatus::done;
    failed += r.status == RunStatus::failed;
    if (r.status == RunStatus::done && r.wall_seconds) walls.push_back(*r.wall_seconds);
  }
  // ETA: the mean duration of the runs finished in this invocation (else the ledger's training
  // times), for the pending runs plus the running ones' remainder, over the parallel slots.
  const double per_run = !durations_.empty() ? mean(durations_) : !walls.empty() ? mean(walls) : NAN;
  double remaining = static_cast<double>(pending_.size()) * per_run;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, started] : running_)
    remaining += std::max(0.0, per_run - std::chrono::duration<double>(now - started).count());
  const int width = 28, filled = total ? (done + failed) * width / total : 0;
  return fmt::format("sweep {}: [{}{}] {}/{} done, {} running, {} failed | elapsed {} | ETA {}", plan_.name,
                     std::string(filled, '#'), std::string(width - filled, '-'), done, total, running_.size(), failed,
                     duration(std::chrono::duration<double>(now - start_).count()),
                     std::isnan(per_run) ? "(after the first run)" : duration(remaining / std::max(1, slots)));
}

// ---- job slots: one job = train (resume), then the analyses ---------------------------------------

std::vector<std::vector<std::string>> job_commands(const JobSpec& j, const std::string& worker) {
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back({worker, "train", "--config", j.config_path, "--seed", std::to_string(j.seed), "--out", j.run_dir, "--resume",
                  "--threads", std::to_string(j.threads)});
  if (j.analysis && !j.analysis_at_steps.empty()) {
    std::string steps;
    for (int k : j.analysis_at_steps) steps += (steps.empty() ? "" : ",") + std::to_string(k);
    cmds.back().insert(cmds.back().end(), {"--keep-weights-at", steps});
  }
  if (j.analysis) {
    cmds.push_back(
        {worker, "analyze", j.run_dir, "--prompts", std::to_string(j.analysis_prompts), "--threads", std::to_string(j.threads)});
    for (int k : j.analysis_at_steps)
      cmds.push_back({worker, "analyze", j.run_dir, "--at-step", std::to_string(k), "--prompts", std::to_string(j.analysis_prompts),
                      "--threads", std::to_string(j.threads)});
    if (j.analysis_at_init)
      cmds.push_back({worker, "analyze", j.run_dir, "--at-init", "--prompts", std::to_string(j.analysis_prompts), "--threads",
                      std::to_string(j.threads)});
  }
  return cmds;
}

long spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("sweep: fork failed");
  if (pid == 0) {
    // The child dies with the sweep (a SIGKILLed sweep must not leave trainers writing to its runs).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "sweep: cannot run %s\n", args[0]);
    _exit(127);
  }
  return pid;
}

JobSlots::JobSlots(int slots, std::string worker) : worker_(std::move(worker)), slots_(static_cast<std::size_t>(slots)) {}

bool JobSlots::has_free() const {
  for (const Slot& s : slots_)
    if (!s.busy) return true;
  return false;
}

bool JobSlots::busy() const {
  for (const Slot& s : slots_)
    if (s.busy) return true;
  return false;
}

void JobSlots::start(const JobSpec& job) {
  for (Slot& s : slots_) {
    if (s.busy) continue;
    std::error_code ec;
    fs::create_directories(job.run_dir, ec);
    s.busy = true;
    s.job = job;
    s.commands = job_commands(job, worker_);
    s.next = 0;
    launch(s);
    return;
  }
  throw std::logic_error("JobSlots::start: no free slot");
}

void JobSlots::launch(Slot& s) {
  s.pid = spawn(s.commands[s.next], s.job.run_dir + "/sweep.log");
  ++s.next;
}

std::vector<JobOutcome> JobSlots::poll(double converged_threshold) {
  std::vector<JobOutcome> out;
  for (Slot& s : slots_) {
    if (!s.busy) continue;
    int status = 0;
    const pid_t r = waitpid(static_cast<pid_t>(s.pid), &status, WNOHANG);
    if (r == 0) continue;
    const bool ok = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok && s.next < s.commands.size()) {
      launch(s);
      continue;
    }
    JobOutcome o;
    o.run_id = s.job.run_id;
    if (ok) {
      try {
        o.result = run_result(s.job.run_dir, converged_threshold);
        o.ok = true;
      } catch (const std::exception& e) {
        o.error = e.what();
      }
    } else {
      const auto& cmd = s.commands[s.next - 1];
      o.error = "`symbreak " + cmd[1] + "` " +
                (r < 0                 ? std::string("could not be waited for")
                 : WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                       : "exited with code " + std::to_string(WEXITSTATUS(status))) +
                "; log " + s.job.run_dir + "/sweep.log: " + log_tail(s.job.run_dir + "/sweep.log");
    }
    s.busy = false;
    out.push_back(std::move(o));
  }
  return out;
}

int default_threads_per_job(int jobs, int ranks_on_host) {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, jobs * ranks_on_host));
}

json run_result(const std::string& run_dir, double threshold) {
  const json final_json = json::parse(read_file(run_dir + "/final.json"));
  double best = 0;
  json first = nullptr, curve = json::array();
  for (const MetricsRow& row : read_metrics_csv(run_dir + "/metrics.csv")) {
    const double e = row.eval.exact_match;
    curve.push_back({row.step, e});
    best = std::max(best, e);
    if (first.is_null() && e >= threshold) first = row.step;
  }
  return {{"final_exact", final_json.at("test_exact_match")},
          {"per_digit", final_json.at("per_digit_accuracy")},
          {"final_loss", final_json.at("final_loss")},
          {"wall_seconds", final_json.at("wall_seconds")},
          {"steps", final_json.at("steps")},
          {"best_exact", best},
          {"first_step_converged", first},
          {"curve", curve}};
}

// ---- one machine ----------------------------------------------------------------------------------

int run_sweep_local(const SweepOptions& options) {
  const int threads = options.threads.value_or(default_threads_per_job(options.jobs, 1));
  SweepScheduler scheduler(options, threads);
  scheduler.set_quiet(options.quiet);
  JobSlots slots(options.jobs, options.worker);
  const bool tty = isatty(1);
  std::string last;
  const auto report = [&](bool force) {
    if (options.quiet) return;
    const std::string line = scheduler.progress_line(options.jobs);
    if (tty) std::cout << "\r" << line << "\033[K" << std::flush;
    else if (force || line.substr(0, line.find('|')) != last.substr(0, last.find('|'))) std::cout << line << "\n" << std::flush;
    last = line;
  };
  if (!options.quiet)
    std::cout << "sweep " << scheduler.plan().name << ": " << scheduler.pending() << " runs to go, " << options.jobs
              << " at a time, " << threads << " thread(s) each; ledger " << options.out_dir << "/ledger.sqlite\n";
  report(true);
  auto last_tick = std::chrono::steady_clock::now();
  while (true) {
    while (slots.has_free()) {
      const auto job = scheduler.next(0, hostname());
      if (!job) break;
      slots.start(*job);
      report(false);
    }
    if (!slots.busy()) break;
    for (const JobOutcome& o : slots.poll(scheduler.plan().converged_threshold)) {
      if (o.ok) scheduler.finished(o.run_id, o.result);
      else scheduler.failed(o.run_id, o.error);
      report(false);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (tty && std::chrono::steady_clock::now() - last_tick > std::chrono::seconds(5)) {
      report(false);
      last_tick = std::chrono::steady_clock::now();
    }
  }
  if (tty && !options.quiet) std::cout << "\n";
  scheduler.record_bookkeeping();
  write_sweep_results(scheduler.plan(), options.out_dir);
  if (!options.quiet) std::cout << sweep_status(options.plan_path, options.out_dir);
  return scheduler.failures() > 0 ? 1 : 0;
}

int run_sweep(const SweepOptions& options, MpiSession* mpi) {
  if (mpi && mpi->ranks() > 1) return run_sweep_mpi(options, *mpi);
  return run_sweep_local(options);
}

std::vector<ConditionSummary> summarize(const Plan& plan, const std::vector<RunRecord>& runs) {
  std::vector<ConditionSummary> out;
  for (const PlanCondition& c : plan.conditions) {
    ConditionSummary s;
    s.condition = c.name;
    std::vector<double> steps, finals;
    for (const RunRecord& r : runs) {
      if (r.condition != c.name) continue;
      ++s.planned;
      s.running += r.status == RunStatus::running;
      s.failed += r.status == RunStatus::failed;
      if (r.status != RunStatus::done) continue;
      ++s.done;
      if (r.final_exact) finals.push_back(*r.final_exact);
      if (r.first_step_converged) {
        ++s.converged;
        steps.push_back(*r.first_step_converged);
      }
    }
    const Interval w = wilson(s.converged, s.done);
    s.rate = w.estimate;
    s.rate_lo = w.lo;
    s.rate_hi = w.hi;
    if (!steps.empty()) s.median_steps_converged = median(steps);
    if (!finals.empty()) s.median_final_exact = median(finals);
    out.push_back(s);
  }
  return out;
}

std::string sweep_status(const std::string& plan_path, const std::string& out_dir) {
  const Plan plan = load_plan(plan_path);
  const std::string db = out_dir + "/ledger.sqlite";
  if (!fs::exists(db)) throw ConfigError("--out " + out_dir + ": no ledger.sqlite (the sweep has not started)");
  Ledger ledger(db, true);
  const auto runs = ledger.runs();
  std::ostringstream o;
  int done = 0, running = 0, failed = 0;
  for (const auto& r : runs) done += r.status == RunStatus::done, running += r.status == RunStatus::running, failed += r.status == RunStatus::failed;
  const int total = static_cast<int>(runs.size());
  const int width = 28, filled = total ? done * width / total : 0;
  o << "sweep " << plan.name << " (" << out_dir << "): [" << std::string(filled, '#') << std::string(width - filled, '-') << "] "
    << done << "/" << total << " done, " << running << " running, " << failed << " failed\n\n";
  o << fmt::format("{:<22} {:>5} {:>9} {:>6}  {:<17} {:>13} {:>12}\n", "condition", "done", "converged", "rate", "Wilson 95 %",
                   "median steps", "median final");
  for (const ConditionSummary& s : summarize(plan, runs)) {
    const std::string steps = s.median_steps_converged ? fmt::format("{:.0f}", *s.median_steps_converged) : "—";
    const std::string finals = s.median_final_exact ? fmt::format("{:.4f}", *s.median_final_exact) : "—";
    const std::string rate = s.done > 0 ? fmt::format("{:.2f}", s.rate) : "—";
    const std::string ci = s.done > 0 ? fmt::format("[{:.2f}, {:.2f}]", s.rate_lo, s.rate_hi) : "—";
    o << fmt::format("{:<22} {:>2}/{:<2} {:>9} {:>6}  {:<17} {:>13} {:>12}\n", s.condition, s.done, s.planned,
                     fmt::format("{}/{}", s.converged, s.done), rate, ci, steps, finals);
  }
  o << "\nconverged: test exact match >= " << plan.converged_threshold
    << " at any evaluation; median steps over converged runs\n";
  // The plan's rules applied to the conditions whose runs are all done, so that a long sweep shows
  // where its claims stand; a condition that later gains seeds (mixed outcome) can still move them.
  const std::vector<ClaimVerdict> verdicts = evaluate_plan(plan, out_dir);
  if (!verdicts.empty()) {
    o << "\nverdicts by the plan's decision rules"
      << (done == total ? "" : ", PROVISIONAL (" + std::to_string(total - done) + " runs to go)") << ":\n";
    for (const ClaimVerdict& v : verdicts)
      o << "  " << v.id << "  " << (v.verdict == Verdict::not_run ? "waiting for its conditions" : to_string(v.verdict))
        << (v.measurement.empty() ? "" : "  " + v.measurement) << "\n";
  }
  if (failed > 0) {
    o << "\nfailed runs:\n";
    for (const auto& r : runs)
      if (r.status == RunStatus::failed) o << "  " << r.run_id << ": " << r.error << "\n";
  }
  return o.str();
}

}  // namespace symbreak::experiments
