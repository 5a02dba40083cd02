// Sweep plans: strict reading, merging each condition into the base config, and fingerprints.
#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <set>

#include "symbreak/experiments/plan.hpp"
#include "symbreak/experiments/train_config.hpp"
#include "symbreak/experiments/verdicts.hpp"
#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"

namespace symbreak::experiments {

using nlohmann::json;

namespace {

std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return fmt::format("{:016x}", static_cast<unsigned long long>(h));
}

std::vector<std::uint64_t> seed_list(StrictObject& o, const char* key, bool required) {
  std::vector<std::uint64_t> seeds;
  const json* v = o.get(key);
  if (!v) {
    if (required) o.fail(key, "is required (a list of seeds)");
    return seeds;
  }
  if (!v->is_array() || (required && v->empty())) o.fail(key, "must be a non-empty list of non-negative integers");
  std::set<std::uint64_t> seen;
  for (const json& s : *v) {
    if (!s.is_number_unsigned()) o.fail(key, "must hold non-negative integers (found " + json_excerpt(s) + ")");
    if (!seen.insert(s.get<std::uint64_t>()).second) o.fail(key, "lists seed " + s.dump() + " twice");
    seeds.push_back(s.get<std::uint64_t>());
  }
  return seeds;
}

}  // namespace

std::string run_id(const std::string& condition, std::uint64_t seed) { return condition + "-s" + std::to_string(seed); }

Plan load_plan(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::runtime_error& e) {
    throw ConfigError(e.what());
  }
  Plan plan;
  plan.path = path;
  plan.json = parse_json_text(text, path);
  StrictObject o(plan.json, path, "");
  plan.name = o.string("name", "");
  if (plan.name.empty() || plan.name.find_first_of("/ \t") != std::string::npos)
    o.fail("name", "must be a non-empty name without spaces or '/'");
  plan.description = o.string("description", "");
  // The base config of every condition (a condition may name its own).
  const auto read_base = [&](StrictObject& obj, const std::string& rel) {
    const std::filesystem::path base_path = std::filesystem::path(path).parent_path() / rel;
    std::string base_text;
    try {
      base_text = read_file(base_path.string());
    } catch (const std::runtime_error&) {
      obj.fail("base_config", "\"" + rel + "\": cannot read " + base_path.string());
    }
    return parse_json_text(base_text, base_path.string());
  };
  const std::string base_rel = o.string("base_config", "");
  const json base = base_rel.empty() ? json() : read_base(o, base_rel);
  plan.steps = static_cast<int>(o.integer("steps", 0, 1, 100000000));
  plan.seeds = seed_list(o, "seeds", true);
  plan.seeds_if_mixed = seed_list(o, "seeds_if_mixed", false);
  for (std::uint64_t s : plan.seeds_if_mixed)
    for (std::uint64_t t : plan.seeds)
      if (s == t) o.fail("seeds_if_mixed", "repeats seed " + std::to_string(s) + " of \"seeds\"");
  plan.converged_threshold = o.number("converged_threshold", 0.99, 0, 1);

  const json* conditions = o.get("conditions");
  if (!conditions || !conditions->is_array() || conditions->empty())
    o.fail("conditions", "must be a non-empty list of {\"name\", \"config\"}");
  std::set<std::string> names;
  for (std::size_t i = 0; i < conditions->size(); ++i) {
    const std::string where = "conditions[" + std::to_string(i) + "]";
    if (!(*conditions)[i].is_object()) o.fail("conditions", "entry " + std::to_string(i) + " is not an object");
    StrictObject c((*conditions)[i], path, where);
    PlanCondition pc;
    pc.name = c.string("name", "");
    if (pc.name.empty() || pc.name.find_first_of("/ \t") != std::string::npos)
      c.fail("name", "must be a non-empty name without spaces or '/'");
    if (!names.insert(pc.name).second) c.fail("name", "\"" + pc.name + "\" is used twice");
    const std::string own_base = c.string("base_config", "");
    if (own_base.empty() && base_rel.empty()) c.fail("base_config", "is required here or at the top of the plan");
    json merged = own_base.empty() ? base : read_base(c, own_base);
    pc.steps = static_cast<int>(c.integer("steps", plan.steps, 1, 100000000));
    if (const json* patch = c.get("config")) {
      if (!patch->is_object()) c.fail("config", "must be an object (merged into the base config)");
      merged.merge_patch(*patch);
    }
    c.finish();
    if (!merged.contains("train") || !merged["train"].is_object()) merged["train"] = json::object();
    // The budget: the condition's, else the plan's, else the config's own.
    if (pc.steps == 0 && merged["train"].contains("steps") && merged["train"]["steps"].is_number_integer())
      pc.steps = merged["train"]["steps"].get<int>();
    if (pc.steps <= 0) c.fail("steps", "is required here, at the top of the plan or in the config (the step budget)");
    merged["train"]["steps"] = pc.steps;
    const TrainConfig parsed = parse_train_config(merged.dump(), path + ": condition \"" + pc.name + "\"");
    pc.config_json = merged.dump(2) + "\n";
    pc.config_hash = fnv1a_hex(parsed.json);
    plan.conditions.push_back(std::move(pc));
  }

  if (o.has("analysis")) {
    StrictObject a = o.object("analysis");
    plan.analysis = true;
    plan.analysis_prompts = static_cast<int>(a.integer("prompts", 2000, 50, 1000000));
    plan.analysis_at_init = a.boolean("at_init", false);
    if (const json* steps = a.get("at_steps")) {
      if (!steps->is_array()) a.fail("at_steps", "must be a list of steps (the weights kept part-way through training)");
      for (const json& k : *steps) {
        if (!k.is_number_unsigned() || k.get<std::uint64_t>() < 1)
          a.fail("at_steps", "must hold whole steps of at least 1 (found " + json_excerpt(k) + ")");
        const int step = static_cast<int>(std::min<std::uint64_t>(k.get<std::uint64_t>(), 100000001));
        for (const auto& c : plan.conditions)
          if (step >= c.steps)
            a.fail("at_steps", "step " + std::to_string(step) + " is not before the budget of condition \"" + c.name + "\" (" +
                                   std::to_string(c.steps) + "); the final weights are analysed anyway");
        if (std::find(plan.analysis_at_steps.begin(), plan.analysis_at_steps.end(), step) != plan.analysis_at_steps.end())
          a.fail("at_steps", "lists step " + std::to_string(step) + " twice");
        plan.analysis_at_steps.push_back(step);
      }
    }
    a.finish();
  }
  plan.estimate_minutes = o.number("estimate_minutes", 0, 0, 1e7);
  if (const json* d = o.get("decision")) {
    if (!d->is_object()) o.fail("decision", "must be an object (the decision rules)");
    plan.decision = *d;
  }
  o.finish();

  check_decision(plan);

  std::string fingerprint = plan.json.dump();
  for (const auto& c : plan.conditions) fingerprint += c.name + c.config_hash;
  plan.hash = fnv1a_hex(fingerprint);
  return plan;
}

}  // namespace symbreak::experiments
