// A plan: configs × seeds × a step budget, the analyses to run on each finished model, and the
// decision rules, fixed before the runs.
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

}  // namespace symbreak::experiments
