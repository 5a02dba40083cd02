// symbreak reproduce, inside: the pieces that reproduce.cpp ties together, one file each —
//   scale.cpp     the plans of a scale, time estimates, provenance, the environment, the first screen
//   evidence.cpp  the exact evidence (property catalogue in Exact, the prover)
//   sweeps.cpp    the plans' sweeps and the claims' rows (from claims.json)
//   charts.cpp    the figures behind each claim
//   verify.cpp    --verify: the committed sweeps' tables and a retrained sample of their runs
//   report.cpp    report.html from its mustache template
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "symbreak/proofs/prover.hpp"
#include "symbreak/properties/runner.hpp"
#include "symbreak/reproduce/reproduce.hpp"

namespace symbreak::experiments::detail {

// The plans every scale runs, in order.
inline const std::vector<std::string> kPlans = {"residual", "depth", "symmetry", "biases"};
// Follow-up plans, written after the first sweeps with fresh seeds: at the default scale only. A
// claim decided by one is "not run" at a scale that does not have it.
inline const std::vector<std::string> kFollowUpPlans = {"residual-slices", "biases-alignment", "biases-gap"};
// The plans of a scale directory: kPlans, then the follow-ups it has.
std::vector<std::string> plans_at(const std::string& dir);

// ---- scale.cpp
struct Scale {
  std::string dir;
  int exact_cases;
};
Scale resolve(const ReproduceOptions& o);
std::map<std::string, double> load_estimates(const std::string& dir);
std::string minutes(double m);
std::string source_file(const std::string& relative);
std::vector<std::tuple<std::string, std::string, std::string>> load_provenance(const std::string& dir);
std::string sweep_dir(const ReproduceOptions& o, const Plan& p);
std::string plan_kind(const Plan& p);
int runs_left(const Plan& plan, const std::string& dir);
nlohmann::json environment(const ReproduceOptions& o, double wall);
double exact_minutes(int cases);

// ---- evidence.cpp
struct ExactEvidence {
  std::map<std::string, properties::Verdict> checks;
  proofs::ProofReport no_mask, causal2, causal1, learned;
  std::vector<proofs::ProofMapCell> map;
  int cases = 0;
};
ExactEvidence exact_evidence(const ReproduceOptions& o, int cases, const std::function<void(const std::string&)>& log);
std::string prover_text(const proofs::ProofReport& r);
std::string check_text(const properties::Verdict& v);

// ---- sweeps.cpp
// The finished sweeps of one reproduce run, and what the claims need from them.
class Sweeps {
 public:
  Sweeps(const ReproduceOptions& o, std::vector<Plan> plans) : o_(o), plans_(std::move(plans)) {
    for (const Plan& p : plans_)
      for (auto& v : evaluate_plan(p, sweep_dir(o_, p))) verdicts_[short_name(p) + "/" + v.id] = v;
  }
  // The plan's kind, its file name: "residual" for quick/residual.json (whose plan is named
  // "residual-quick"); the claims name plans by kind, at any scale.
  static std::string short_name(const Plan& p) { return plan_kind(p); }
  bool has(const std::string& kind) const {
    for (const Plan& p : plans_)
      if (short_name(p) == kind) return true;
    return false;
  }
  const Plan& plan(const std::string& kind) const {
    for (const Plan& p : plans_)
      if (short_name(p) == kind) return p;
    throw std::logic_error("reproduce: no " + kind + " plan");
  }
  std::string dir(const std::string& kind) const { return sweep_dir(o_, plan(kind)); }
  std::string command(const std::string& kind) const {
    return "symbreak sweep --plan " + plan(kind).path + " --out " + dir(kind) + " --jobs " + std::to_string(o_.jobs);
  }
  // The verdict of rule `id` of plan `kind` ("residual/C6"), or nullptr when the plan has no such rule.
  const ClaimVerdict* verdict(const std::string& key) const {
    const auto it = verdicts_.find(key);
    return it == verdicts_.end() ? nullptr : &it->second;
  }
  std::string seeds(const std::string& kind) const { return std::to_string(plan(kind).seeds.size()) + " seeds"; }
  // "6 conditions", or their names when there are few ("intact, all-off").
  std::string conditions(const std::string& kind) const {
    const auto& cs = plan(kind).conditions;
    if (cs.size() > 4) return std::to_string(cs.size()) + " conditions";
    std::string names;
    for (const auto& c : cs) names += (names.empty() ? "" : ", ") + c.name;
    return names;
  }

 private:
  const ReproduceOptions& o_;
  std::vector<Plan> plans_;
  std::map<std::string, ClaimVerdict> verdicts_;
};

void run_sweeps(const ReproduceOptions& o, const std::vector<Plan>& plans, bool root,
                const std::function<void(const std::string&)>& log);
std::vector<ClaimRow> claim_rows(const ClaimsFile& file, const ExactEvidence& exact, const Sweeps& sw, int exact_cases);

// ---- verify.cpp
// The committed sweeps --verify checks: directories of o.committed_sweeps with a ledger, a
// results.md and a plan of the same name in plans_dir.
std::vector<std::string> committed_sweeps(const ReproduceOptions& o, const std::string& plans_dir);
std::vector<VerifyRow> verify_committed(const ReproduceOptions& o, const std::string& plans_dir,
                                        const std::function<void(const std::string&)>& log);

// ---- charts.cpp
// The figures behind each claim's verdict, in section order, and the prover's map (A1).
std::vector<ReportFigure> claim_figures(const Sweeps& sw);
std::vector<ProverMapRow> prover_map(const ExactEvidence& exact);

}  // namespace symbreak::experiments::detail
