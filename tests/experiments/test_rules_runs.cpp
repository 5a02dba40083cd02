// The rule bias_gap (B3 as Paper B states it) on synthetic ledgers: finished runs with the step they
// first reached 99 % (or never) and their held-out test loss, written by hand. It is driven to every
// verdict, and to the hostile cases: the reference arm getting worse, one statistic for and one
// against, ties, censored runs, a budget too short, runs without a test loss, too few seeds, and
// misspelt parameters.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include "synthetic_sweep.hpp"

namespace symbreak::experiments {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

// One finished run: the first step at 99 % (none: never, counted at the budget) and its test loss
// at the budget (none: a run trained before the evaluation measured it).
struct Outcome {
  std::optional<int> first_step;
  std::optional<double> test_loss;
};
using Outcomes = std::function<Outcome(const std::string& condition, int seed)>;

const char* kGapPlan = R"({"name": "gap", "base_config": "base.json", "steps": 8000, "seeds": [21, 22, 23, 24, 25, 26, 27, 28],
  "conditions": [{"name": "adamw-none"}, {"name": "ecd-none", "config": {"optimizer": {"name": "ecd"}}},
                 {"name": "ecd-bqv", "config": {"optimizer": {"name": "ecd"}, "symmetry_breaking_bias": {"enabled": true}}}],
  "decision": {"B3-ECD": {"rule": "bias_gap", "without": "ecd-none", "with": "ecd-bqv", "reference": "adamw-none",
                          "min_seeds": 8, "statement": "t"}}})";

class BiasGapRule : public SyntheticSweep {
 protected:
  BiasGapRule() : SyntheticSweep("rules_runs", R"({"model": {"d_model": 16, "heads": 2, "layers": 2, "mask": "causal"}})") {}

  ClaimVerdict decide(const Outcomes& outcome, const std::string& plan_text = kGapPlan) {
    write_plan(plan_text);
    const auto verdicts = decide_all([&](const RunRecord& r, const fs::path& run_dir) {
      const Outcome o = outcome(r.condition, static_cast<int>(r.seed));
      json final_json = {{"steps", 8000}};
      if (o.test_loss) final_json["test_loss"] = *o.test_loss;
      std::ofstream(run_dir / "final.json") << final_json.dump();
      return finished_metrics(o.first_step ? 0.995 : 0.5, o.first_step);
    });
    EXPECT_EQ(verdicts.size(), 1u);
    return verdicts.at(0);
  }
};

// The biases help on every seed, by a varying margin: both paired intervals lie above 0.
Outcome helped(const std::string& c, int seed) {
  if (c == "adamw-none") return {2000, 0.01};
  if (c == "ecd-none") return {5000 + 100 * (seed % 3), 0.05 + 0.001 * (seed % 4)};
  return {3000 + 50 * (seed % 2), 0.02 + 0.001 * (seed % 3)};
}

TEST_F(BiasGapRule, ReproducedWhenTheBiasesLowerTheLossAndTheStepsOnEverySeed) {
  const ClaimVerdict v = decide(helped);
  EXPECT_EQ(v.verdict, Verdict::reproduced) << v.measurement;
  double loss_gain = 0;
  for (int seed = 21; seed <= 28; ++seed) loss_gain += (0.05 + 0.001 * (seed % 4) - 0.02 - 0.001 * (seed % 3)) / 8;
  EXPECT_NEAR(v.numbers["loss_gain"][0].get<double>(), loss_gain, 1e-12);
  EXPECT_EQ(v.numbers["paired_seeds"], 8);
  // The reference's gap is reported: median ecd-none 5100, ecd-bqv 3000 (ties broken by the median).
  EXPECT_THAT(v.measurement, HasSubstr("adamw-none, reported"));
}

// The B3 loophole, made hostile: the reference arm collapsing (AdamW never converging) must not move
// the verdict, which rests on the optimizer's own two arms only.
TEST_F(BiasGapRule, TheReferenceArmGettingWorseCannotCarryTheVerdict) {
  const ClaimVerdict base = decide(helped);
  const ClaimVerdict worse = decide([](const std::string& c, int seed) {
    if (c == "adamw-none") return Outcome{std::nullopt, 2.5};
    return helped(c, seed);
  });
  EXPECT_EQ(worse.verdict, base.verdict);
  EXPECT_EQ(worse.numbers["loss_gain"], base.numbers["loss_gain"]);
  EXPECT_EQ(worse.numbers["step_gain"], base.numbers["step_gain"]);
  // And a reference that only got worse, with no help from the biases, is not reproduced.
  const ClaimVerdict no_help = decide([](const std::string& c, int seed) {
    if (c == "adamw-none") return Outcome{std::nullopt, 2.5};
    return Outcome{4000 + 100 * (seed % 3), 0.05 + 0.001 * (seed % 2)};  // both arms alike
  });
  EXPECT_EQ(no_help.verdict, Verdict::not_reproduced) << no_help.measurement;
}

TEST_F(BiasGapRule, NotReproducedWhenOneStatisticLiesBelowZero) {
  // Lower loss with the biases, but clearly slower to 99 % on every seed.
  const ClaimVerdict v = decide([](const std::string& c, int seed) {
    if (c == "ecd-none") return Outcome{3000 + 10 * (seed % 3), 0.05 + 0.001 * (seed % 2)};
    if (c == "ecd-bqv") return Outcome{5000 + 20 * (seed % 2), 0.02};
    return Outcome{2000, 0.01};
  });
  EXPECT_EQ(v.verdict, Verdict::not_reproduced) << v.measurement;
}

TEST_F(BiasGapRule, InconclusiveWhenAnIntervalStraddlesZero) {
  const ClaimVerdict v = decide([](const std::string& c, int seed) {
    if (c == "ecd-none") return Outcome{4000, 0.05};
    if (c == "ecd-bqv") return Outcome{seed % 2 ? 3000 : 4500, 0.03};  // steps: −500 or +1000 per seed
    return Outcome{2000, 0.01};
  });
  EXPECT_EQ(v.verdict, Verdict::inconclusive) << v.measurement;
}

// Identical arms: every paired difference is 0, a zero-width interval on the threshold, which is
// "at or below 0": not reproduced, never lost to rounding.
TEST_F(BiasGapRule, TiesAreNotReproduced) {
  const ClaimVerdict v = decide([](const std::string& c, int seed) {
    return c == "adamw-none" ? Outcome{2000, 0.01} : Outcome{4000 + 100 * (seed % 3), 0.04};
  });
  EXPECT_EQ(v.verdict, Verdict::not_reproduced) << v.measurement;
  EXPECT_EQ(v.numbers["step_gain"][1], 0.0);
  EXPECT_EQ(v.numbers["step_gain"][2], 0.0);
}

// A run that never converges counts at the budget (8,000): the gain of a censored run is real but
// bounded, and the rule still needs the arm without biases to converge on half its seeds.
TEST_F(BiasGapRule, CensoredRunsCountAtTheBudgetAndATooShortBudgetIsInconclusive) {
  const ClaimVerdict half = decide([](const std::string& c, int seed) {
    if (c == "ecd-none") return Outcome{seed <= 24 ? std::optional<int>(6000 + 10 * seed) : std::nullopt, 0.06};
    if (c == "ecd-bqv") return Outcome{3000 + 10 * (seed % 3), 0.03};
    return Outcome{2000, 0.01};
  });
  EXPECT_EQ(half.verdict, Verdict::reproduced) << half.measurement;
  // Seeds 25..28: 8000 − (3000 + 10·(seed mod 3)).
  EXPECT_EQ(half.numbers["step_gains"][4], 8000 - 3010);
  const ClaimVerdict short_budget = decide([](const std::string& c, int seed) {
    if (c == "ecd-none") return Outcome{seed <= 23 ? std::optional<int>(6000) : std::nullopt, 0.06};  // 3 of 8
    if (c == "ecd-bqv") return Outcome{3000 + 10 * (seed % 3), 0.03};
    return Outcome{2000, 0.01};
  });
  EXPECT_EQ(short_budget.verdict, Verdict::inconclusive) << short_budget.measurement;
  EXPECT_THAT(short_budget.measurement, HasSubstr("budget too short (ecd-none converged on 3 of 8 seeds"));
  // Every arm failing: nothing converged, nothing to decide.
  const ClaimVerdict none = decide([](const std::string&, int) { return Outcome{std::nullopt, 2.3}; });
  EXPECT_EQ(none.verdict, Verdict::inconclusive) << none.measurement;
}

TEST_F(BiasGapRule, RunsWithoutATestLossAreInconclusive) {
  const ClaimVerdict v = decide([](const std::string& c, int seed) {
    Outcome o = helped(c, seed);
    if (c == "ecd-bqv" && seed == 23) o.test_loss.reset();
    return o;
  });
  EXPECT_EQ(v.verdict, Verdict::inconclusive) << v.measurement;
  EXPECT_THAT(v.measurement, HasSubstr("1 runs have no test loss"));
}

TEST_F(BiasGapRule, TooFewSeedsIsInconclusive) {
  std::string plan = kGapPlan;
  plan.replace(plan.find("[21, 22, 23, 24, 25, 26, 27, 28]"), 32, "[21, 22, 23, 24, 25]");
  const ClaimVerdict v = decide(helped, plan);
  EXPECT_EQ(v.verdict, Verdict::inconclusive) << v.measurement;
  EXPECT_THAT(v.measurement, HasSubstr("too few seeds"));
}

TEST_F(BiasGapRule, ParametersAreReadStrictly) {
  const auto error_of = [&](const std::string& from, const std::string& to) {
    std::string plan = kGapPlan;
    plan.replace(plan.find(from), from.size(), to);
    write_plan(plan);
    try {
      load();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of(R"("with": "ecd-bqv")", R"("wiht": "ecd-bqv")"), HasSubstr("\"decision.B3-ECD.wiht\" is not a parameter"));
  EXPECT_THAT(error_of(R"("with": "ecd-bqv", )", ""), HasSubstr("\"decision.B3-ECD.with\" is required by the rule bias_gap"));
  EXPECT_THAT(error_of(R"("reference": "adamw-none")", R"("reference": "adamw-bqv")"), HasSubstr("does not have"));
}

}  // namespace
}  // namespace symbreak::experiments
