#include "symbreak/reproduce/claims.hpp"
#include "internal.hpp"

#include <algorithm>
#include <set>

#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"

namespace symbreak::experiments {

using nlohmann::json;

std::string_view to_string(ClaimKind kind) {
  switch (kind) {
    case ClaimKind::exact: return "exact";
    case ClaimKind::implementation: return "implementation";
    case ClaimKind::empirical: return "empirical";
  }
  return "?";
}

namespace {

const std::vector<std::string_view> kKinds = {"exact", "implementation", "empirical"};
const std::set<std::string, std::less<>> kStatuses = {"holds", "broken-as-expected"};
const std::set<std::string, std::less<>> kProverReports = {"no_mask", "causal1", "causal2", "learned"};
const std::set<std::string, std::less<>> kProverVerdicts = {"PROVEN", "REFUTED"};

std::vector<std::string> string_list(StrictObject& o, std::string_view key, bool required) {
  const json* v = o.get(key);
  if (!v) {
    if (required) o.fail(key, "is missing (a list of strings)");
    return {};
  }
  if (!v->is_array() || v->empty()) o.fail(key, "must be a non-empty list of strings");
  std::vector<std::string> out;
  for (const json& x : *v) {
    if (!x.is_string()) o.fail(key, "must hold strings, not " + json_excerpt(x));
    out.push_back(x.get<std::string>());
  }
  return out;
}

// {"NAME": "expected", ...} with names and values from the allowed sets.
std::vector<std::pair<std::string, std::string>> expectations(StrictObject& o, std::string_view key,
                                                              const std::set<std::string, std::less<>>* names,
                                                              const std::set<std::string, std::less<>>& values) {
  std::vector<std::pair<std::string, std::string>> out;
  const json* v = o.get(key);
  if (!v) return out;
  if (!v->is_object() || v->empty()) o.fail(key, "must be a non-empty object");
  for (const auto& [name, want] : v->items()) {
    if (names && !names->contains(name)) {
      std::string allowed;
      for (const auto& n : *names) allowed += (allowed.empty() ? "" : ", ") + n;
      o.fail(std::string(key) + "." + name, "is not known (allowed: " + allowed + ")");
    }
    if (!want.is_string() || !values.contains(want.get<std::string>())) {
      std::string allowed;
      for (const auto& n : values) allowed += (allowed.empty() ? "" : ", ") + n;
      o.fail(std::string(key) + "." + name, json_excerpt(want) + " is not an expected result (allowed: " + allowed + ")");
    }
    out.emplace_back(name, want.get<std::string>());
  }
  return out;
}

}  // namespace

ClaimsFile load_claims(const std::string& path) {
  ClaimsFile f;
  f.path = path;
  const json root = parse_json_text(read_file(path), path);
  StrictObject top(root, path, "");
  top.string("description", "");
  StrictObject sources = top.object("sources");
  if (const json* s = top.get("sources"); !s || !s->is_object() || s->empty()) top.fail("sources", "must name each source");
  for (const auto& [key, value] : root["sources"].items()) f.sources[key] = sources.string(key, "");
  sources.finish();
  StrictObject kinds = top.object("kinds");
  for (std::size_t k = 0; k < kKinds.size(); ++k) {
    const std::string text = kinds.string(kKinds[k], "");
    if (text.empty()) kinds.fail(kKinds[k], "is missing (each kind of claim is described)");
    f.kinds.emplace_back(static_cast<ClaimKind>(k), text);
  }
  kinds.finish();
  const json* claims = top.get("claims");
  if (!claims || !claims->is_array() || claims->empty()) top.fail("claims", "must be a non-empty list");
  top.finish();
  std::set<std::string> ids;
  for (std::size_t i = 0; i < claims->size(); ++i) {
    StrictObject c((*claims)[i], path, "claims[" + std::to_string(i) + "]");
    ClaimSpec spec;
    spec.id = c.string("id", "");
    if (spec.id.empty()) c.fail("id", "is missing");
    if (!ids.insert(spec.id).second) c.fail("id", "\"" + spec.id + "\" is used twice");
    spec.source = c.string("source", "");
    if (!f.sources.contains(spec.source)) c.fail("source", "\"" + spec.source + "\" is not one of the file's sources");
    spec.kind = static_cast<ClaimKind>(c.choice("kind", 2, {"exact", "implementation", "empirical"}));
    if (!c.has("kind")) c.fail("kind", "is missing (allowed: exact, implementation, empirical)");
    spec.statement = c.string("statement", "");
    spec.ran = c.string("ran", "");
    if (spec.statement.empty() || spec.ran.empty()) c.fail(spec.statement.empty() ? "statement" : "ran", "is missing");
    spec.commands = string_list(c, "commands", true);
    spec.checks = expectations(c, "checks", nullptr, kStatuses);
    spec.prover = expectations(c, "prover", &kProverReports, kProverVerdicts);
    spec.plan = c.string("plan", "");
    spec.rule = c.string("rule", "");
    spec.restated_by = string_list(c, "restated_by", false);
    const bool exact_evidence = !spec.checks.empty() || !spec.prover.empty(), sweep = !spec.plan.empty();
    if (exact_evidence == sweep)
      c.fail(sweep ? "plan" : "checks", "a claim has either exact evidence (checks, prover) or a plan and rule, not " +
                                            std::string(sweep ? "both" : "neither"));
    if (sweep) {
      std::string allowed;
      bool known = false;
      for (const auto* list : {&detail::kPlans, &detail::kFollowUpPlans})
        for (const std::string& p : *list) {
          allowed += (allowed.empty() ? "" : ", ") + p;
          known = known || p == spec.plan;
        }
      if (!known) c.fail("plan", "\"" + spec.plan + "\" is not a plan (allowed: " + allowed + ")");
    }
    if (sweep && spec.rule.empty()) c.fail("rule", "is missing (the plan's decision rule that decides this claim)");
    if (spec.kind == ClaimKind::exact && sweep) c.fail("kind", "\"exact\" claims are decided by checks and the prover, not a plan");
    if (spec.kind != ClaimKind::exact && !sweep) c.fail("kind", "only \"exact\" claims are decided by checks and the prover");
    c.finish();
    f.claims.push_back(std::move(spec));
  }
  for (std::size_t i = 0; i < f.claims.size(); ++i)
    for (const std::string& id : f.claims[i].restated_by)
      if (!ids.contains(id) || id == f.claims[i].id)
        throw ConfigError(path + ": claims[" + std::to_string(i) + "].restated_by: \"" + id + "\" is not another claim of the file");
  return f;
}

}  // namespace symbreak::experiments
