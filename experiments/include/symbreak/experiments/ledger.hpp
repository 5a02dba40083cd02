// The ledger of a sweep: every run of its plan, with its status, attempts and results, in an embedded
// SQLite database (DIR/ledger.sqlite).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "symbreak/experiments/plan.hpp"

namespace symbreak::experiments {

// A run's place in its sweep: waiting, training (or analysing), finished, or failed (retried by the
// next invocation).
enum class RunStatus { pending, running, done, failed };
std::string_view to_string(RunStatus status);
// The status as the ledger stores it; std::runtime_error for any other text.
RunStatus parse_run_status(std::string_view text);

// One row of the ledger.
struct RunRecord {
  std::string run_id, condition, config_hash;
  RunStatus status = RunStatus::pending;
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

}  // namespace symbreak::experiments
