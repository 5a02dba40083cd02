// The decision rules' shared pieces, internal to experiments: the sweep a rule reads (Context), text
// helpers, and the rules themselves (rules_runs.cpp: rules on convergence and losses; rules_analyses.cpp:
// rules on the analyses of trained models). verdicts.cpp holds their table and applies them.
#pragma once

#include <fmt/printf.h>

#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/verdicts.hpp"
#include "symbreak/io.hpp"

namespace symbreak::experiments::rules {

using nlohmann::json;
namespace fs = std::filesystem;

// printf-style text (fmt's sprintf); every argument is a number, printed as a double.
template <class... Numbers>
std::string ftext(const char* format, Numbers... values) {
  return fmt::sprintf(format, static_cast<double>(values)...);
}
inline std::string interval_text(const Interval& i) { return ftext("%.3g [%.3g, %.3g]", i.estimate, i.lo, i.hi); }

struct Context {
  const Plan& plan;
  std::string out;
  std::vector<RunRecord> runs;

  std::vector<const RunRecord*> done(const std::string& condition) const {
    std::vector<const RunRecord*> r;
    for (const RunRecord& x : runs)
      if (x.condition == condition && x.status == RunStatus::done) r.push_back(&x);
    return r;
  }
  int planned(const std::string& condition) const {
    int n = 0;
    for (const RunRecord& x : runs) n += x.condition == condition;
    return n;
  }
  bool complete(const std::string& condition) const {
    const int n = planned(condition);
    return n > 0 && static_cast<int>(done(condition).size()) == n;
  }
  // A run's analysis (analysis.json, read strictly), or nullopt when it has none.
  std::optional<RunAnalysis> analysis(const RunRecord& r, bool init, std::optional<int> at_step = std::nullopt) const {
    return load_analysis(analysis_dir(out + "/runs/" + r.run_id, init, at_step), /*with_pearson=*/false);
  }
  // The size of a run's test set, from the config it ran with (config.json: task.test_size).
  int test_size(const RunRecord& r) const {
    const std::string path = out + "/runs/" + r.run_id + "/config.json";
    const json config = json::parse(read_file(path));
    const json* size = config.contains("task") ? &config["task"] : nullptr;
    if (!size || !size->contains("test_size") || !(*size)["test_size"].is_number_integer())
      throw ConfigError(path + ": \"task.test_size\" is missing; the rule needs the run's test-set size");
    return (*size)["test_size"].get<int>();
  }
  // Runs of the condition that reached the plan's converged threshold at some evaluation.
  int converged(const std::string& condition) const {
    int k = 0;
    for (const RunRecord* r : done(condition)) k += r->first_step_converged.has_value();
    return k;
  }
  // Per seed: the first step at the threshold, or the budget for a run that never got there (censored).
  std::map<std::uint64_t, double> steps_to_converge(const std::string& name) const {
    const PlanCondition* c = condition(name);
    const int budget = c ? c->steps : plan.steps;
    std::map<std::uint64_t, double> s;
    for (const RunRecord* r : done(name)) s[r->seed] = r->first_step_converged ? *r->first_step_converged : budget;
    return s;
  }
  // A run's held-out test loss at its last step (final.json "test_loss"); none for runs trained before
  // the evaluation measured it.
  std::optional<double> final_test_loss(const RunRecord& r) const {
    const std::string path = out + "/runs/" + r.run_id + "/final.json";
    if (!fs::exists(path)) return std::nullopt;
    const json f = json::parse(read_file(path), nullptr, false);
    if (!f.is_object() || !f.contains("test_loss") || !f["test_loss"].is_number()) return std::nullopt;
    return f["test_loss"].get<double>();
  }
  const PlanCondition* condition(const std::string& name) const {
    for (const auto& c : plan.conditions)
      if (c.name == name) return &c;
    return nullptr;
  }
};

inline std::string str(const json& rule, const char* key, const std::string& fallback = "") {
  return rule.contains(key) && rule[key].is_string() ? rule[key].get<std::string>() : fallback;
}
inline std::vector<std::string> strings(const json& rule, const char* key) {
  std::vector<std::string> out;
  if (rule.contains(key) && rule[key].is_array())
    for (const json& v : rule[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}


// The rules. Each reads its parameters from `rule` (already checked by check_decision) and fills
// the verdict, its checks, measurement text and numbers.
void convergence_drop(const Context& ctx, const json& rule, ClaimVerdict& v);
void learns(const Context& ctx, const json& rule, ClaimVerdict& v);
void under_ceiling(const Context& ctx, const json& rule, ClaimVerdict& v);
void ceiling_and_learns(const Context& ctx, const json& rule, ClaimVerdict& v);
void ends_converged(const Context& ctx, const json& rule, ClaimVerdict& v);
void gap_narrows(const Context& ctx, const json& rule, ClaimVerdict& v);
void bias_gap(const Context& ctx, const json& rule, ClaimVerdict& v);
void diagonal_structure(const Context& ctx, const json& rule, ClaimVerdict& v);
void matched_slices(const Context& ctx, const json& rule, ClaimVerdict& v);
void position_probe(const Context& ctx, const json& rule, ClaimVerdict& v);
void alignment(const Context& ctx, const json& rule, ClaimVerdict& v);

}  // namespace symbreak::experiments::rules
