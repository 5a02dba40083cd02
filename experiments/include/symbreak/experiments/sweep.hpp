// Sweeps: a plan (configs × seeds × a step budget, and the analyses to run on each finished model)
// executed as separate `symbreak train` / `symbreak analyze` processes, with every run recorded in an
// embedded SQLite ledger. Resumable: a finished run is never recomputed, a killed run resumes from its
// checkpoint (bit-identically), and nothing written is lost. With Open MPI, rank 0 owns the ledger and
// hands runs to every rank's job slots.
//
// A plan (experiments/plans/*.json), read strictly:
//   {
//     "name": "residual",
//     "description": "...",
//     "base_config": "configs/residual-base.json",      // relative to the plan file
//     "steps": 8000,                                   // the step budget of every run
//     "seeds": [1, 2, 3, 4, 5],
//     "seeds_if_mixed": [6, 7, 8, 9, 10],              // added to a condition whose first seeds disagree
//     "converged_threshold": 0.99,                     // converged: test exact match ≥ this at any evaluation
//     "conditions": [ {"name": "intact"},
//                     {"name": "all-off", "config": {"model": {"residual_attention": false, "residual_mlp": false}}} ],
//     "analysis": {"prompts": 2000, "at_init": true,   // optional: symbreak analyze on every finished run,
//                  "at_steps": [2000]},                // its untrained weights and the weights at these steps
//     "decision": { ... },                             // the decision rules, fixed before the runs (verdicts.hpp)
//     "estimate_minutes": 180                          // optional: measured wall time, --jobs 2 on 2 cores
//   }
// A condition's "config" is merged into the base config (RFC 7386 merge patch). A condition may also
// name its own "base_config" and "steps" (a plan of different configs, such as the shipped ones).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace symbreak::experiments {

struct PlanCondition {
  std::string name;
  int steps = 0;            // the step budget (the plan's unless the condition sets its own)
  std::string config_json;  // the merged training config, steps set to the plan's budget
  std::string config_hash;  // FNV-1a 64 of the normalised config, hex
};

struct Plan {
  std::string name, description, path;
  nlohmann::json json;  // the plan file as written
  std::string hash;     // of the plan file's normalised JSON
  int steps = 0;        // the default step budget (0: every condition sets its own)
  std::vector<std::uint64_t> seeds, seeds_if_mixed;
  double converged_threshold = 0.99;
  std::vector<PlanCondition> conditions;
  bool analysis = false;
  int analysis_prompts = 2000;
  bool analysis_at_init = false;
  std::vector<int> analysis_at_steps;  // also analyse the weights kept at these steps
  nlohmann::json decision;      // may be null
  double estimate_minutes = 0;  // measured wall time of the whole plan with --jobs 2 on a 2-core machine (0: unknown)
};

// Reads and checks a plan; every condition's merged config is parsed as a training config, so a bad
// override fails here, before any run. Throws ConfigError naming the file and the field.
Plan load_plan(const std::string& path);

std::string run_id(const std::string& condition, std::uint64_t seed);

// One row of the ledger.
struct RunRecord {
  std::string run_id, condition, config_hash, status;  // status: pending | running | done | failed
  std::uint64_t seed = 0;
  int steps = 0, threads = 0, attempts = 0;
  std::string started_at, ended_at, host, error;
  int rank = -1;
  std::optional<double> final_exact, best_exact, final_loss, wall_seconds;
  std::optional<int> first_step_converged;
  std::vector<double> per_digit;
};

struct AttemptRecord {
  std::string run_id, started_at, ended_at, outcome, host;
  int attempt = 0, resumed_from = 0, rank = -1;
};

// The ledger: DIR/ledger.sqlite (WAL mode; readers such as --status never block the sweep).
class Ledger {
 public:
  explicit Ledger(const std::string& path, bool read_only = false);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Binds the ledger to a plan: the first time records it; afterwards the plan must describe the same
  // runs (ConfigError otherwise). Only its decision rules and description may have been restated.
  void bind_plan(const Plan& plan);
  bool same_runs_as_bound(const Plan& plan) const;
  std::optional<std::string> meta(const std::string& key) const;
  void set_meta(const std::string& key, const std::string& value);

  // Adds pending runs that are not in the ledger yet; returns how many were added.
  int add_runs(const Plan& plan, const std::vector<std::uint64_t>& seeds, const std::vector<std::string>& conditions);
  // Runs left 'running' by a killed sweep become 'pending' again (they resume from their checkpoints);
  // failed runs are retried by the next invocation.
  int reset_interrupted();

  std::vector<RunRecord> runs() const;
  std::vector<AttemptRecord> attempts() const;
  std::optional<RunRecord> run(const std::string& run_id) const;

  void mark_running(const std::string& run_id, int threads, int rank, const std::string& host, int resumed_from);
  void mark_done(const std::string& run_id, const nlohmann::json& result);
  void mark_failed(const std::string& run_id, const std::string& error);

 private:
  void exec(const std::string& sql) const;
  struct sqlite3* db_ = nullptr;
  std::string path_;
};

// What a finished run reports (read from its final.json and metrics.csv): final and best test exact
// match, the first evaluation step at or above the threshold, per-digit accuracy, loss, wall time.
nlohmann::json run_result(const std::string& run_dir, double converged_threshold);

// The results of a ledger per condition (with Wilson intervals), for --status, results.json and the
// verdicts.
struct ConditionSummary {
  std::string condition;
  int planned = 0, done = 0, failed = 0, running = 0, converged = 0;
  double rate = 0, rate_lo = 0, rate_hi = 1;
  std::optional<double> median_steps_converged;  // over converged runs
  std::optional<double> median_final_exact;
};
std::vector<ConditionSummary> summarize(const Plan& plan, const std::vector<RunRecord>& runs);

struct SweepOptions {
  std::string plan_path, out_dir;
  int jobs = 1;
  std::optional<int> threads;  // per job; default: the cores on this host / (jobs × ranks on this host)
  std::string worker;          // the symbreak executable that runs `train` and `analyze`
  bool quiet = false;
};

// One MPI job (MPI_Init in the constructor, MPI_Finalize in the destructor), shared by every sweep the
// process runs. Only in builds with SYMBREAK_WITH_MPI; elsewhere the constructor throws ConfigError.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  int ranks_on_host() const { return local_; }
  static bool available();           // built with Open MPI
  static bool launched_by_mpirun();  // started by mpirun with more than one rank

 private:
  int rank_ = 0, ranks_ = 1, local_ = 1;
};

// Runs (or resumes) a sweep to completion, `jobs` processes at a time on this machine, or, with an MPI
// session, on every rank (rank 0 owns the ledger and the schedule; run directories must be on a
// filesystem every rank sees). Then writes DIR/results.json, DIR/results.md and the summary figures.
// Returns 0 when every run finished, 1 when some failed (on every rank). Throws ConfigError for a bad
// plan or a DIR that another sweep holds.
int run_sweep(const SweepOptions& options, MpiSession* mpi = nullptr);

// --status: progress and the results table with Wilson 95 % intervals, read from the ledger.
std::string sweep_status(const std::string& plan_path, const std::string& out_dir);

// Writes results.json, results.md and the summary figures (convergence rates, learning curves) of a
// ledger. Called at the end of a sweep; safe to call at any time.
void write_sweep_results(const Plan& plan, const std::string& out_dir);
// results.json and results.md only (no figures), from the ledger and the runs' files.
void write_sweep_tables(const Plan& plan, const std::string& out_dir);
// results.md as the ledger in out_dir gives it now, without writing anything: the committed tables are
// checked against it, and `symbreak sweep --markdown` prints it for the READMEs.
std::string sweep_markdown(const std::string& plan_path, const std::string& out_dir);

}  // namespace symbreak::experiments
