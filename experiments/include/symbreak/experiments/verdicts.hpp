// Verdicts: a claim's decision rule, written into its plan before the runs, applied to the ledger
// and the analyses. Every rule reduces to checks of the form "this interval lies above (or below)
// this threshold":
//   reproduced      every check's interval lies entirely on the claimed side;
//   not reproduced  some check's interval lies entirely on the other side (or on the threshold);
//   inconclusive    otherwise: some interval straddles its threshold (more seeds could decide);
//   not run         the runs a check needs are missing.
//
// Rules (the "rule" field of each entry of a plan's "decision" object):
//   convergence_drop    C5: some ablation's Wilson upper bound lies below the reference's lower bound.
//   diagonal_structure  C6: for the primary ablation, ΔD = D(reference) − D(ablation) at the ablated
//                       layer pairs, the drop in own-token retention after the ablated blocks, and
//                       ΔD_trained − ΔD_init, each a per-seed paired difference with a Student-t
//                       95 % interval, lie above 0.
//   learns              the convergence rate's Wilson lower bound lies above min_rate.
//   under_ceiling       every run's best test exact match has its Wilson upper bound below the Bayes
//                       ceiling of position-blind predictors (T7).
//   ceiling_and_learns  X1: under_ceiling for some conditions, learns (rate above 0) for others.
//   position_probe      X2: the last layer's linear position-probe accuracy lies above min_accuracy for
//                       some conditions, and its gain over layer 0 lies below max_gain for others.
//   ends_converged      every run's final test exact match (the last step) is at least min_final.
//   gap_narrows         B3: per seed, steps-to-99 % of an optimizer without biases minus with them
//                       (the gap to AdamW without biases, a fixed reference, narrows), Student-t
//                       interval above 0. Runs that never converge count at the budget; inconclusive
//                       when no run of either arm converged.
//   bias_gap            B3 as Paper B states it: per seed, the test loss at the budget and steps-to-99 %
//                       of an optimizer without the biases minus with them, Student-t intervals, both
//                       above 0; not reproduced if either lies at or below 0; inconclusive when the arm
//                       without biases converged on fewer than half its seeds (budget too short).
//   matched_slices      C6 from a matched start: S = mean over pairs (l, l+1) of log D_trained −
//                       log D_init; S(treated) − S(control) per seed (Student t) above 0 at the end
//                       and at a kept step, and the last-layer position-probe gain above 0; not
//                       reproduced when the end-of-training interval lies below 0.
//   alignment           B4: alignment z-score of the biased run minus the unbiased one, paired per seed,
//                       above 0, and the biased runs' mean z above 1.96 (Student t).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "symbreak/experiments/stats.hpp"
#include "symbreak/experiments/ledger.hpp"
#include "symbreak/experiments/plan.hpp"

namespace symbreak::experiments {

enum class Verdict { reproduced, not_reproduced, inconclusive, not_run };
std::string to_string(Verdict v);

struct Check {
  std::string name;  // what is measured, e.g. "ΔD (intact − all-off)"
  Interval interval;
  double threshold = 0;
  bool above = true;  // the claim wants the interval above the threshold (false: below)
};

// The three-way rule above, on any set of checks; an empty set or a missing interval is not_run.
Verdict decide(const std::vector<Check>& checks);

struct ClaimVerdict {
  std::string id, rule, statement, measurement;
  Verdict verdict = Verdict::not_run;
  std::vector<Check> checks;
  nlohmann::json numbers;  // every number the verdict used
};

// Checks a plan's decision rules before any run: known rules, existing conditions, readable files.
// Throws ConfigError naming the field. (load_plan calls it.)
void check_decision(const Plan& plan);

// Applies every rule of the plan's "decision" object to the sweep in out_dir (its ledger and the
// runs' analysis.json files). Rules whose runs are not finished give not_run.
std::vector<ClaimVerdict> evaluate_plan(const Plan& plan, const std::string& out_dir);

nlohmann::json to_json(const ClaimVerdict& v);

}  // namespace symbreak::experiments
