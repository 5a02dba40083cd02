// The results of a sweep, read from its ledger and its runs' files: the per-condition summary, the
// tables (results.json, results.md) and the summary figures.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "symbreak/experiments/ledger.hpp"
#include "symbreak/experiments/plan.hpp"

namespace symbreak::experiments {

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

// Writes results.json, results.md and the summary figures (convergence rates, learning curves) of a
// ledger. Called at the end of a sweep; safe to call at any time.
void write_sweep_results(const Plan& plan, const std::string& out_dir);
// results.json and results.md only (no figures), from the ledger and the runs' files.
void write_sweep_tables(const Plan& plan, const std::string& out_dir);
// results.md as the ledger in out_dir gives it now, without writing anything: the committed tables are
// checked against it, and `symbreak sweep --markdown` prints it for the READMEs.
std::string sweep_markdown(const Plan& plan, const std::string& out_dir);

}  // namespace symbreak::experiments
