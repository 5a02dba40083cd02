// A synthetic sweep for the decision-rule tests (test_rules.cpp, test_rules_runs.cpp): a temporary
// directory with a base config and a plan, and a ledger whose every run is finished by the test,
// with metrics and run files written by hand. The verdicts then come from the real evaluate_plan,
// exactly as `symbreak sweep` and `reproduce` decide from a committed ledger.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "symbreak/config.hpp"
#include "symbreak/experiments/sweep.hpp"
#include "symbreak/experiments/verdicts.hpp"

namespace symbreak::experiments {

// The ledger metrics of a finished run: its exact-match accuracy at the end, and the first step at
// which it reached the plan's threshold (nullopt: never, a censored run).
inline nlohmann::json finished_metrics(double final_exact, std::optional<int> first_step) {
  return {{"final_exact", final_exact},
          {"best_exact", first_step ? 1.0 : final_exact},
          {"first_step_converged", first_step ? nlohmann::json(*first_step) : nlohmann::json(nullptr)},
          {"final_loss", 0.1},
          {"wall_seconds", 1.0},
          {"per_digit", {1, 1, 1, 1}}};
}

class SyntheticSweep : public ::testing::Test {
 protected:
  // `name` keeps concurrent test binaries apart; `base_config` is the plan's base.json.
  SyntheticSweep(const std::string& name, std::string base_config)
      : dir_(std::filesystem::temp_directory_path() / ("symbreak_" + name + "_" + std::to_string(::getpid()))),
        base_config_(std::move(base_config)) {}

  void SetUp() override {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "base.json") << base_config_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write_plan(const std::string& text) { std::ofstream(dir_ / "plan.json") << text; }
  Plan load() const { return load_plan((dir_ / "plan.json").string()); }

  // What a test writes for one run: its ledger metrics, after putting any files (final.json,
  // analyses) into the run's directory, which exists when `finish` is called.
  using Finish = std::function<nlohmann::json(const RunRecord& run, const std::filesystem::path& run_dir)>;

  // A fresh ledger of the written plan with every run finished by `finish`; the plan's verdicts.
  std::vector<ClaimVerdict> decide_all(const Finish& finish) {
    const Plan plan = load();
    std::filesystem::remove(dir_ / "ledger.sqlite");
    std::filesystem::remove_all(dir_ / "runs");
    {
      Ledger ledger((dir_ / "ledger.sqlite").string());
      ledger.bind_plan(plan);
      ledger.add_runs(plan, plan.seeds, {});
      for (const RunRecord& r : ledger.runs()) {
        const std::filesystem::path run_dir = dir_ / "runs" / r.run_id;
        std::filesystem::create_directories(run_dir);
        const nlohmann::json metrics = finish(r, run_dir);
        ledger.mark_running(r.run_id, 1, 0, "test", 0);
        ledger.mark_done(r.run_id, metrics);
      }
    }
    return evaluate_plan(plan, dir_.string());
  }

  std::filesystem::path dir_;

 private:
  std::string base_config_;
};

}  // namespace symbreak::experiments
