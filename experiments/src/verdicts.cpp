#include "symbreak/experiments/verdicts.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "rules.hpp"
#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/train_config.hpp"
#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"

namespace symbreak::experiments {

using nlohmann::json;
namespace fs = std::filesystem;

std::string to_string(Verdict v) {
  switch (v) {
    case Verdict::reproduced: return "reproduced";
    case Verdict::not_reproduced: return "not reproduced";
    case Verdict::inconclusive: return "inconclusive";
    case Verdict::not_run: return "not run";
  }
  return "?";
}

Verdict decide(const std::vector<Check>& checks) {
  if (checks.empty()) return Verdict::not_run;
  bool all_hold = true;
  for (const Check& c : checks) {
    const Interval& i = c.interval;
    if (std::isnan(i.lo) || std::isnan(i.hi)) return Verdict::not_run;
    const bool holds = c.above ? i.lo > c.threshold : i.hi < c.threshold;
    const bool contrary = c.above ? i.hi <= c.threshold : i.lo >= c.threshold;
    if (contrary) return Verdict::not_reproduced;
    all_hold = all_hold && holds;
  }
  return all_hold ? Verdict::reproduced : Verdict::inconclusive;
}

json to_json(const ClaimVerdict& v) {
  json checks = json::array();
  for (const Check& c : v.checks)
    checks.push_back({{"name", c.name},
                      {"estimate", std::isnan(c.interval.estimate) ? json(nullptr) : json(c.interval.estimate)},
                      {"lo", std::isnan(c.interval.lo) ? json(nullptr) : json(c.interval.lo)},
                      {"hi", std::isnan(c.interval.hi) ? json(nullptr) : json(c.interval.hi)},
                      {"threshold", c.threshold},
                      {"wants", c.above ? "above" : "below"}});
  return {{"id", v.id},
          {"rule", v.rule},
          {"statement", v.statement},
          {"verdict", to_string(v.verdict)},
          {"measurement", v.measurement},
          {"checks", checks},
          {"numbers", v.numbers}};
}

namespace {

// Plans are read strictly: a key not listed here (a misspelt parameter would otherwise fall back to
// its default and could change a verdict) is an error that names it.
enum class Kind { number, text, names, name, comparisons };
struct RuleKey {
  const char* key;
  Kind kind;
};
struct RuleSpec {
  const char* name;
  std::vector<RuleKey> keys;  // besides "rule", "statement", "holds_if" and "min_seeds"
  void (*apply)(const rules::Context&, const json&, ClaimVerdict&);
};
const std::vector<RuleSpec>& rule_table() {
  static const std::vector<RuleSpec> table = {
      {"convergence_drop", {{"reference", Kind::name}, {"ablations", Kind::names}}, rules::convergence_drop},
      {"diagonal_structure", {{"reference", Kind::name}, {"primary", Kind::name}, {"ablations", Kind::names}}, rules::diagonal_structure},
      {"learns", {{"conditions", Kind::names}, {"min_rate", Kind::number}}, rules::learns},
      {"under_ceiling", {{"conditions", Kind::names}, {"ceiling", Kind::number}, {"ceiling_file", Kind::text}, {"test_size", Kind::number}}, rules::under_ceiling},
      {"ceiling_and_learns",
       {{"under_ceiling", Kind::names},
        {"learns", Kind::names},
        {"ceiling", Kind::number},
        {"ceiling_file", Kind::text},
        {"test_size", Kind::number}}, rules::ceiling_and_learns},
      {"ends_converged", {{"conditions", Kind::names}, {"min_final", Kind::number}}, rules::ends_converged},
      {"position_probe",
       {{"learns_position", Kind::names},
        {"blind", Kind::names},
        {"min_accuracy", Kind::number},
        {"max_gain", Kind::number}}, rules::position_probe},
      {"gap_narrows", {{"comparisons", Kind::comparisons}, {"primary", Kind::text}}, rules::gap_narrows},
      {"bias_gap", {{"without", Kind::name}, {"with", Kind::name}, {"reference", Kind::name}}, rules::bias_gap},
      {"alignment", {{"with_bias", Kind::name}, {"without_bias", Kind::name}, {"keys", Kind::text}}, rules::alignment},
      {"matched_slices",
       {{"treated", Kind::name},
        {"control", Kind::name},
        {"reported", Kind::names},
        {"first_pair", Kind::number},
        {"last_pair", Kind::number},
        {"at_step", Kind::number},
        {"estimator", Kind::text}}, rules::matched_slices},
  };
  return table;
}

// The conditions a rule reads: every key of kind name, names or comparisons (convergence_drop
// without "ablations" reads every condition of the plan).
std::vector<std::string> rule_conditions(const Plan& plan, const json& rule) {
  std::vector<std::string> out;
  const std::string name = rule.value("rule", "");
  if (name == "convergence_drop" && !rule.contains("ablations"))
    for (const auto& c : plan.conditions) out.push_back(c.name);
  for (const RuleSpec& spec : rule_table()) {
    if (spec.name != name) continue;
    for (const RuleKey& k : spec.keys) {
      if (!rule.contains(k.key)) continue;
      const json& v = rule[k.key];
      if (k.kind == Kind::name && v.is_string()) out.push_back(v.get<std::string>());
      if (k.kind == Kind::names && v.is_array())
        for (const json& x : v) out.push_back(x.get<std::string>());
      if (k.kind == Kind::comparisons && v.is_array())
        for (const json& c : v)
          for (const auto& [ck, cv] : c.items())
            if (ck != "name" && cv.is_string()) out.push_back(cv.get<std::string>());
    }
  }
  return out;
}

// The plan's minimum evidence: a rule with "min_seeds" decides nothing (reproduced or not) while
// any condition it reads has fewer finished seeds; it says "inconclusive: too few seeds".
void require_min_seeds(const rules::Context& ctx, const json& rule, ClaimVerdict& v) {
  if (!rule.contains("min_seeds") || v.verdict == Verdict::not_run) return;
  const int need = rule["min_seeds"].get<int>();
  std::string short_of;
  for (const std::string& c : rule_conditions(ctx.plan, rule)) {
    const int have = static_cast<int>(ctx.done(c).size());
    if (have < need && short_of.find(c + " ") == std::string::npos)
      short_of += (short_of.empty() ? "" : ", ") + c + " " + std::to_string(have);
  }
  v.numbers["min_seeds"] = need;
  if (short_of.empty()) return;
  v.verdict = Verdict::inconclusive;
  v.measurement += (v.measurement.empty() ? "" : "; ") + std::string("inconclusive: too few seeds (the plan requires ") +
                   std::to_string(need) + " per condition; finished: " + short_of + ")";
}

std::string rule_names() {
  std::string s;
  for (const RuleSpec& r : rule_table()) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}

}  // namespace

void check_decision(const Plan& plan) {
  if (!plan.decision.is_object()) return;
  const auto fail = [&](const std::string& field, const std::string& what) {
    throw ConfigError(plan.path + ": \"decision." + field + "\" " + what);
  };
  const auto known = [&](const std::string& name) {
    for (const auto& c : plan.conditions)
      if (c.name == name) return true;
    return false;
  };
  const auto condition = [&](const std::string& field, const json& v) {
    if (!v.is_string()) fail(field, "must be a condition name (a string)");
    if (!known(v.get<std::string>()))
      fail(field, "names the condition \"" + v.get<std::string>() + "\", which the plan does not have");
  };
  for (const auto& [id, rule] : plan.decision.items()) {
    if (!rule.is_object()) fail(id, "must be an object with a \"rule\"");
    if (!rule.contains("rule") || !rule["rule"].is_string()) fail(id + ".rule", "is missing (allowed: " + rule_names() + ")");
    const std::string name = rule["rule"].get<std::string>();
    const auto& table = rule_table();
    const auto spec = std::find_if(table.begin(), table.end(), [&](const RuleSpec& r) { return r.name == name; });
    if (spec == table.end()) fail(id + ".rule", "\"" + name + "\" is not a known rule (allowed: " + rule_names() + ")");
    for (const auto& [key, value] : rule.items()) {
      const std::string field = id + "." + key;
      if (key == "rule") continue;
      if (key == "statement" || key == "holds_if") {
        if (!value.is_string()) fail(field, "must be a string");
        continue;
      }
      if (key == "min_seeds") {
        if (!value.is_number_integer() || value.get<long long>() < 1) fail(field, "must be a whole number of seeds, at least 1");
        continue;
      }
      const auto k = std::find_if(spec->keys.begin(), spec->keys.end(), [&](const RuleKey& r) { return key == r.key; });
      if (k == spec->keys.end()) {
        std::string allowed = "rule, statement, holds_if, min_seeds";
        for (const RuleKey& r : spec->keys) allowed += ", " + std::string(r.key);
        fail(field, "is not a parameter of the rule " + name + " (allowed: " + allowed + ")");
      }
      switch (k->kind) {
        case Kind::number:
          if (!value.is_number()) fail(field, "must be a number");
          break;
        case Kind::text:
          if (!value.is_string()) fail(field, "must be a string");
          break;
        case Kind::name: condition(field, value); break;
        case Kind::names:
          if (!value.is_array()) fail(field, "must be a list of condition names");
          for (const json& x : value) condition(field, x);
          break;
        case Kind::comparisons:
          if (!value.is_array()) fail(field, "must be a list of comparisons");
          for (const json& c : value) {
            if (!c.is_object()) fail(field, "must hold objects (name, optimizer_without, optimizer_with, adamw_without, adamw_with)");
            for (const auto& [ck, cv] : c.items()) {
              if (ck == "name") {
                if (!cv.is_string()) fail(field + ".name", "must be a string");
              } else if (ck == "optimizer_without" || ck == "optimizer_with" || ck == "adamw_without" || ck == "adamw_with") {
                condition(field + "." + ck, cv);
              } else {
                fail(field + "." + ck,
                     "is not a key of a comparison (allowed: name, optimizer_without, optimizer_with, adamw_without, adamw_with)");
              }
            }
          }
          break;
      }
    }
    if (name == "bias_gap")
      for (const char* key : {"without", "with"})
        if (!rule.contains(key)) fail(id + "." + key, "is required by the rule bias_gap");
    if (name == "alignment" && rule.contains("keys") && rule["keys"] != "raw" && rule["keys"] != "actual")
      fail(id + ".keys", "must be \"raw\" (W_K·e_t) or \"actual\" (the mean key at the token's positions)");
    if (name == "matched_slices") {
      for (const char* key : {"treated", "control", "first_pair", "last_pair", "at_step"})
        if (!rule.contains(key)) fail(id + "." + key, "is required by the rule matched_slices");
      for (const char* key : {"first_pair", "last_pair", "at_step"})
        if (!rule[key].is_number_integer() || rule[key].get<long long>() < 0) fail(id + "." + key, "must be a whole number, at least 0");
      if (rule["first_pair"].get<int>() > rule["last_pair"].get<int>()) fail(id + ".first_pair", "is after last_pair");
      const int at = rule["at_step"].get<int>();
      if (std::find(plan.analysis_at_steps.begin(), plan.analysis_at_steps.end(), at) == plan.analysis_at_steps.end())
        fail(id + ".at_step", std::to_string(at) + " is not one of the plan's analysis.at_steps");
      if (rule.contains("estimator") && rule["estimator"] != "biased" && rule["estimator"] != "unbiased")
        fail(id + ".estimator", "must be \"biased\" or \"unbiased\" (the HSIC estimator behind D)");
      for (const auto& c : plan.conditions) {
        const int layers = parse_train_config(c.config_json, c.name).model.layers;
        if (rule["last_pair"].get<int>() >= layers)
          fail(id + ".last_pair", "names the pair (" + std::to_string(rule["last_pair"].get<int>()) + ", " +
                                      std::to_string(rule["last_pair"].get<int>() + 1) + "), beyond the " + std::to_string(layers) +
                                      " layers of condition \"" + c.name + "\"");
      }
    }
    if ((name == "under_ceiling" || name == "ceiling_and_learns") && !rule.contains("ceiling")) {
      const fs::path file = fs::path(plan.path).parent_path() / rule.value("ceiling_file", "../ceilings/addition3.json");
      if (!fs::exists(file)) fail(id + ".ceiling_file", "\"" + file.string() + "\" does not exist");
    }
  }
}

std::vector<ClaimVerdict> evaluate_plan(const Plan& plan, const std::string& out_dir) {
  std::vector<ClaimVerdict> out;
  if (!plan.decision.is_object()) return out;
  const std::string db = out_dir + "/ledger.sqlite";
  rules::Context ctx{plan, out_dir, {}};
  if (fs::exists(db)) ctx.runs = Ledger(db, true).runs();
  for (const auto& [id, rule] : plan.decision.items()) {
    ClaimVerdict v;
    v.id = id;
    v.rule = rules::str(rule, "rule");
    v.statement = rules::str(rule, "statement");
    v.numbers = json::object();
    const auto& table = rule_table();
    const auto spec = std::find_if(table.begin(), table.end(), [&](const RuleSpec& r) { return r.name == v.rule; });
    if (spec == table.end())  // check_decision refused it when the plan was read; a plan built in code can still
      throw ConfigError(plan.path + ": \"decision." + id + ".rule\": \"" + v.rule + "\" is not a known rule (allowed: " +
                        rule_names() + ")");
    spec->apply(ctx, rule, v);
    require_min_seeds(ctx, rule, v);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace symbreak::experiments
