// The parts of a sweep shared by the one-machine loop (sweep.cpp) and the MPI loop (sweep_mpi.cpp).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "symbreak/experiments/sweep.hpp"

namespace symbreak::experiments {

// One run to execute: what a job slot needs, on any rank.
struct JobSpec {
  std::string run_id, condition, config_path, run_dir;
  std::uint64_t seed = 0;
  int threads = 1;
  bool analysis = false, analysis_at_init = false;
  int analysis_prompts = 2000;
  std::vector<int> analysis_at_steps;  // train keeps these steps' weights; analyze reads them
};

struct JobOutcome {
  std::string run_id;
  bool ok = false;
  nlohmann::json result;  // run_result() when ok
  std::string error;
};

// Owns the plan and the ledger; hands out pending runs and records outcomes.
class SweepScheduler {
 public:
  SweepScheduler(const SweepOptions& options, int default_threads);
  ~SweepScheduler();
  const Plan& plan() const { return plan_; }
  std::size_t pending() const { return pending_.size(); }
  std::size_t running() const { return running_.size(); }
  int failures() const { return failures_; }
  void set_quiet(bool quiet) { quiet_ = quiet; }

  std::optional<JobSpec> next(int rank, const std::string& host);
  void finished(const std::string& run_id, const nlohmann::json& result);
  void failed(const std::string& run_id, const std::string& error);
  std::string progress_line(int slots) const;
  // Adds this process's CPU time since the scheduler was made to the ledger's bookkeeping total
  // (call once, at the end; a reproduce run's exact checks before its sweeps do not count).
  void record_bookkeeping();

 private:
  void add_mixed_seeds(const std::string& condition);
  Plan plan_;
  std::string out_;
  int default_threads_;
  int lock_fd_ = -1;
  std::unique_ptr<Ledger> ledger_;
  std::deque<std::string> pending_;
  std::map<std::string, std::chrono::steady_clock::time_point> running_;
  std::vector<double> durations_;
  std::chrono::steady_clock::time_point start_;
  double cpu_at_start_ = 0;  // this process's CPU seconds when the scheduler was made
  int failures_ = 0;
  bool quiet_ = false;
};

// A fixed number of slots, each running one job's commands (train, then the analyses) as children.
class JobSlots {
 public:
  JobSlots(int slots, std::string worker);
  bool has_free() const;
  bool busy() const;
  void start(const JobSpec& job);
  // Advances finished children; returns the jobs that ended (successfully or not).
  std::vector<JobOutcome> poll(double converged_threshold);

 private:
  struct Slot {
    bool busy = false;
    JobSpec job;
    std::vector<std::vector<std::string>> commands;
    std::size_t next = 0;
    long pid = 0;
  };
  void launch(Slot& s);
  std::string worker_;
  std::vector<Slot> slots_;
};

// The two ways to run a sweep (run_sweep picks one).
int run_sweep_local(const SweepOptions& options);
int run_sweep_mpi(const SweepOptions& options, MpiSession& mpi);

// The cores of this host shared by the jobs of every rank on it.
int default_threads_per_job(int jobs, int ranks_on_host);

}  // namespace symbreak::experiments
