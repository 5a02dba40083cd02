// The rules that read the ledger alone, on synthetic ledgers: C5 convergence_drop and S1
// ends_converged driven to each verdict and held back by the plan's minimum evidence, and B3's
// gap_narrows on hostile ledgers (the reference arm getting worse, every arm failing, ties).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>

#include "synthetic_sweep.hpp"

namespace symbreak::experiments {
namespace {

const char* kTwoLayers = R"({"model": {"d_model": 16, "heads": 2, "layers": 2, "mask": "causal"}})";

// A ledger with made-up outcomes: the decision rules read it as they read a real sweep's.
class RuleOnLedger : public SyntheticSweep {
 protected:
  RuleOnLedger() : SyntheticSweep("rules", kTwoLayers) {}
  void SetUp() override {
    SyntheticSweep::SetUp();
    write_plan(R"({"name": "rules", "base_config": "base.json", "steps": 1000, "seeds": [1, 2, 3, 4, 5],
      "conditions": [{"name": "intact"}, {"name": "ablated", "config": {"model": {"residual_mlp": false}}}],
      "decision": {"C5": {"rule": "convergence_drop", "reference": "intact", "statement": "t"},
                   "S1": {"rule": "ends_converged", "conditions": ["intact"], "min_final": 0.99, "statement": "t"}}})");
  }

  // Records `converged` of the ablation's five seeds as converged; the intact ones always converge.
  std::vector<ClaimVerdict> decide_with(int converged) {
    return decide_all([&](const RunRecord& r, const std::filesystem::path&) {
      const bool ok = r.condition == "intact" || static_cast<int>(r.seed) <= converged;
      return finished_metrics(ok ? 1.0 : 0.01, ok ? std::optional<int>(500) : std::nullopt);
    });
  }
};

TEST_F(RuleOnLedger, ConvergenceDropIsReproducedInconclusiveOrNotAsTheIntervalsSay) {
  // 5/5 against 0/5: Wilson [0.57, 1] and [0, 0.43] do not overlap.
  auto v = decide_with(0);
  EXPECT_EQ(v[0].id, "C5");
  EXPECT_EQ(v[0].verdict, Verdict::reproduced) << v[0].measurement;
  EXPECT_EQ(v[1].verdict, Verdict::reproduced);  // S1: every intact run ended at 1.0
  // 5/5 against 2/5: the ablation's point estimate lies below the intact lower bound, its interval does not.
  v = decide_with(2);
  EXPECT_EQ(v[0].verdict, Verdict::inconclusive) << v[0].measurement;
  // 5/5 against 5/5: the ablation's whole interval lies at or above the intact lower bound.
  v = decide_with(5);
  EXPECT_EQ(v[0].verdict, Verdict::not_reproduced) << v[0].measurement;
}

// The plan's minimum evidence: with fewer finished seeds than min_seeds a rule decides nothing, even
// where its intervals already separate (5/5 against 0/5 is "reproduced" above).
TEST_F(RuleOnLedger, TooFewSeedsIsInconclusiveNeverReproduced) {
  write_plan(R"({"name": "rules", "base_config": "base.json", "steps": 1000, "seeds": [1, 2, 3, 4, 5],
      "conditions": [{"name": "intact"}, {"name": "ablated", "config": {"model": {"residual_mlp": false}}}],
      "decision": {"C5": {"rule": "convergence_drop", "reference": "intact", "statement": "t", "min_seeds": 8},
                   "S1": {"rule": "ends_converged", "conditions": ["intact"], "min_final": 0.99, "statement": "t", "min_seeds": 5}}})");
  const auto v = decide_with(0);
  EXPECT_EQ(v[0].verdict, Verdict::inconclusive) << v[0].measurement;
  EXPECT_THAT(v[0].measurement, ::testing::HasSubstr("inconclusive: too few seeds (the plan requires 8 per condition; finished: intact 5, ablated 5)"));
  EXPECT_EQ(v[1].verdict, Verdict::reproduced) << v[1].measurement;  // 5 of the 5 it requires
  // A not-reproduced verdict is held back the same way.
  const auto w = decide_with(5);
  EXPECT_EQ(w[0].verdict, Verdict::inconclusive) << w[0].measurement;
}

// B3 on hostile ledgers. The gap between SGD and AdamW must narrow because SGD speeds up with the
// biases, not because the reference arm (AdamW with biases) gets worse: AdamW without biases is the
// fixed reference and AdamW with biases never enters the gap.
class GapOnLedger : public SyntheticSweep {
 protected:
  GapOnLedger() : SyntheticSweep("gap", kTwoLayers) {}
  void SetUp() override {
    SyntheticSweep::SetUp();
    write_plan(R"({"name": "gap", "base_config": "base.json", "steps": 3000, "seeds": [1, 2, 3, 4, 5],
      "conditions": [{"name": "adamw-none"}, {"name": "adamw-bqv"}, {"name": "sgd-none"}, {"name": "sgd-bqv"}],
      "decision": {"B3": {"rule": "gap_narrows", "primary": "sgd/bqv", "statement": "t",
        "comparisons": [{"name": "sgd/bqv", "optimizer_without": "sgd-none", "optimizer_with": "sgd-bqv",
                         "adamw_without": "adamw-none", "adamw_with": "adamw-bqv"}]}}})");
  }

  // steps(condition, seed): the step that reached 0.99, or nullopt (never; counts at the budget).
  ClaimVerdict decide_with(const std::function<std::optional<int>(const std::string&, int)>& steps) {
    return decide_all([&](const RunRecord& r, const std::filesystem::path&) {
             const std::optional<int> s = steps(r.condition, static_cast<int>(r.seed));
             return finished_metrics(s ? 1.0 : 0.01, s);
           }).at(0);
  }
};

TEST_F(GapOnLedger, TheReferenceArmGettingWorseIsNotANarrowing) {
  // SGD is exactly as fast with the biases as without; AdamW with the biases never converges.
  const ClaimVerdict v = decide_with([](const std::string& c, int seed) -> std::optional<int> {
    if (c == "adamw-none") return 1000 + 50 * seed;
    if (c == "adamw-bqv") return std::nullopt;
    return 2000 + 100 * seed;  // sgd-none and sgd-bqv alike
  });
  EXPECT_NE(v.verdict, Verdict::reproduced) << v.measurement;
  EXPECT_EQ(v.verdict, Verdict::not_reproduced) << v.measurement;
}

TEST_F(GapOnLedger, SgdSpeedingUpWithTheBiasesIsANarrowing) {
  const ClaimVerdict v = decide_with([](const std::string& c, int seed) -> std::optional<int> {
    if (c == "adamw-none" || c == "adamw-bqv") return 1000 + 50 * seed;
    if (c == "sgd-none") return 2500 + 60 * seed;
    return 1500 + 40 * seed;  // sgd-bqv: about 1000 steps faster on every seed
  });
  EXPECT_EQ(v.verdict, Verdict::reproduced) << v.measurement;
}

TEST_F(GapOnLedger, EveryArmFailingIsNotEvidence) {
  const ClaimVerdict v = decide_with([](const std::string&, int) -> std::optional<int> { return std::nullopt; });
  EXPECT_NE(v.verdict, Verdict::reproduced) << v.measurement;
}

TEST_F(GapOnLedger, TiesAtTheThresholdAreNotReproduced) {
  // Paired differences 0 on every seed: the interval is [0, 0], which does not lie above 0.
  const ClaimVerdict v = decide_with([](const std::string& c, int seed) -> std::optional<int> {
    return c.starts_with("adamw") ? 1000 : 2000 + seed;
  });
  EXPECT_EQ(v.verdict, Verdict::not_reproduced) << v.measurement;
}

}  // namespace
}  // namespace symbreak::experiments
