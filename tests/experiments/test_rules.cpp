// The decision rules that read analyses (C6 diagonal_structure, C6-matched matched_slices, X2
// position_probe, B4 alignment) on synthetic ledgers: a ledger of finished runs plus the analysis.json
// files a rule reads, written by hand. Each rule is driven to every verdict it can give, and to the
// hostile cases: a reference arm getting worse, collapsed slots, ties at each threshold, missing
// analyses and too few seeds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/results.hpp"
#include "synthetic_sweep.hpp"

namespace symbreak::experiments {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One synthetic analysis: D per layer pair (l, l+1) (nullopt: a collapsed slot, written as null),
// own-token retention per stream, position-probe accuracy per layer, alignment z and top tokens.
struct FakeAnalysis {
  std::vector<std::optional<double>> D;  // pair (l, l+1) for l = 0..
  std::vector<double> retention;          // stream 0..L
  std::vector<double> position;           // layer 0..L
  double z_raw = 0, z_actual = 0;
  std::vector<std::string> top_tokens = {"3", "5"};  // per (layer, head), best-aligned token

  // Written by the real analysis.json writer, so the rules read it through the strict reader.
  json to_json() const {
    RunAnalysis a;
    a.run = "fake";
    a.model.layers = static_cast<int>(D.size());
    for (std::size_t l = 0; l < D.size(); ++l) {
      PairMeasures m;
      m.from = static_cast<int>(l);
      m.to = static_cast<int>(l + 1);
      m.diagonality_index = D[l].value_or(kNaN);
      m.pearson_file = "pearson.npy";
      a.pairs.push_back(m);
    }
    for (std::size_t l = 0; l < std::max(retention.size(), position.size()); ++l) {
      StreamRetention r;
      r.layer = static_cast<int>(l);
      r.own_token = l < retention.size() ? retention[l] : kNaN;
      a.retention.push_back(r);
      a.position_probe.push_back({static_cast<int>(l), l < position.size() ? position[l] : kNaN, 0.1});
    }
    a.alignment.mean_z_raw = z_raw;
    a.alignment.mean_z_actual = z_actual;
    LayerAlignment layer;
    for (std::size_t h = 0; h < top_tokens.size(); ++h) {
      HeadAlignment head;
      head.head = static_cast<int>(h);
      head.raw.ranking = head.actual.ranking = {{top_tokens[h], 0.9}};
      layer.heads.push_back(head);
    }
    a.alignment.layers.push_back(layer);
    return analysis_to_json(a);
  }
};

// Which analysis of a run: the end of training, initialisation, or a kept step.
enum class When { end, init, step };
using Analyses = std::function<std::optional<FakeAnalysis>(const std::string& condition, int seed, When when)>;

class RulesOnAnalyses : public SyntheticSweep {
 protected:
  RulesOnAnalyses() : SyntheticSweep("rules_analyses", R"({"model": {"d_model": 16, "heads": 2, "layers": 6, "mask": "causal"}})") {}

  // Every run of the plan finished (converged at step 500); its analyses as `analyses` gives them.
  std::vector<ClaimVerdict> decide(const Analyses& analyses, int step = 2000) {
    return decide_all([&](const RunRecord& r, const fs::path& run_dir) {
      for (const auto& [when, init, at] : {std::tuple{When::end, false, std::optional<int>()},
                                           std::tuple{When::init, true, std::optional<int>()},
                                           std::tuple{When::step, false, std::optional<int>(step)}}) {
        const auto a = analyses(r.condition, static_cast<int>(r.seed), when);
        if (!a) continue;
        const fs::path d = analysis_dir(run_dir.string(), init, at);
        fs::create_directories(d);
        std::ofstream(d / "analysis.json") << a->to_json().dump();
      }
      return finished_metrics(1.0, 500);
    });
  }
};

// ---- C6-matched (matched_slices) ------------------------------------------------------------------

const char* kSlicesPlan = R"({"name": "slices", "base_config": "base.json", "steps": 6800, "seeds": [11, 12, 13, 14, 15],
  "conditions": [{"name": "first-2"}, {"name": "all-off", "config": {"model": {"residual_mlp": false, "residual_attention": false}}}],
  "analysis": {"prompts": 100, "at_init": true, "at_steps": [2000]},
  "decision": {"C6-matched": {"rule": "matched_slices", "treated": "first-2", "control": "all-off", "first_pair": 2, "last_pair": 5,
                              "at_step": 2000, "statement": "t"}}})";

// D at every layer pair, and the position probe's accuracy `probe` at the last layer.
FakeAnalysis slices(double D, double probe) {
  FakeAnalysis a;
  a.D.assign(6, D);
  a.retention.assign(7, 0.5);
  a.position.assign(7, 0.3);
  a.position.back() = probe;
  return a;
}

TEST_F(RulesOnAnalyses, MatchedSlicesReproducedWhenTheResidualArmGainsStructureOnEverySeed) {
  write_plan(kSlicesPlan);
  const auto v = decide([](const std::string& c, int seed, When w) -> std::optional<FakeAnalysis> {
    if (w == When::init) return slices(1.5, 0.3);
    const double gain = c == "first-2" ? 2.0 + 0.1 * (seed % 3) : 1.0;
    return slices(1.5 * gain, c == "first-2" ? 0.9 : 0.5 + 0.01 * (seed % 2));
  });
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].verdict, Verdict::reproduced) << v[0].measurement;
  // S(first-2) = log of its gain, S(all-off) = 0: the mean paired difference is the mean log gain.
  double expected = 0;
  for (int seed = 11; seed <= 15; ++seed) expected += std::log(2.0 + 0.1 * (seed % 3)) / 5;
  EXPECT_NEAR(v[0].numbers["paired"]["end"][0].get<double>(), expected, 1e-12);
}

TEST_F(RulesOnAnalyses, MatchedSlicesNotReproducedWhenTheEndIntervalLiesBelowZero) {
  write_plan(kSlicesPlan);
  // Ahead at step 2,000, behind at the end on every seed: the end decides against the claim.
  const auto v = decide([](const std::string& c, int seed, When w) -> std::optional<FakeAnalysis> {
    if (w == When::init) return slices(1.5, 0.3);
    if (c == "all-off") return slices(1.5 * (w == When::end ? 2.0 + 0.01 * seed : 1.0), 0.5);
    return slices(1.5 * (w == When::step ? 2.0 + 0.01 * seed : 1.0), 0.9);
  });
  EXPECT_EQ(v[0].verdict, Verdict::not_reproduced) << v[0].measurement;
}

TEST_F(RulesOnAnalyses, MatchedSlicesNeedsTheStepAndTheProbeToo) {
  write_plan(kSlicesPlan);
  // Ahead at the end, but only because first-2 learned: no difference at step 2,000.
  auto v = decide([](const std::string& c, int seed, When w) -> std::optional<FakeAnalysis> {
    if (w == When::init) return slices(1.5, 0.3);
    const double probe = c == "first-2" ? 0.9 : 0.8;
    if (c == "all-off") return slices(1.5, probe);
    if (w == When::end) return slices(1.5 * (2.0 + 0.01 * seed), probe);
    return slices(1.5 * (seed % 2 ? 1.01 : 0.99), probe);  // step 2,000: ±, no difference
  });
  EXPECT_EQ(v[0].verdict, Verdict::inconclusive) << v[0].measurement;
  // Ahead at both times, but the position probe is not clearly better: inconclusive.
  v = decide([](const std::string& c, int seed, When w) -> std::optional<FakeAnalysis> {
    if (w == When::init) return slices(1.5, 0.3);
    return slices(1.5 * (c == "first-2" ? 2.0 + 0.01 * seed : 1.0), 0.8 + 0.01 * (seed % 2) * (c == "first-2" ? 1 : -1));
  });
  EXPECT_EQ(v[0].verdict, Verdict::inconclusive) << v[0].measurement;
}

TEST_F(RulesOnAnalyses, MatchedSlicesCountsACollapsedPairAsNoStructureAtBothTimes) {
  write_plan(kSlicesPlan);
  // all-off collapses after training (every D null): each of its pairs counts as D = 1, so its S is
  // −log 1.5 on every seed, not "missing" (skipping the pairs would leave no pairs at all).
  const auto v = decide([](const std::string& c, int, When w) -> std::optional<FakeAnalysis> {
    if (w == When::init) return slices(1.5, 0.3);
    FakeAnalysis a = slices(1.5, 0.5);
    if (c == "all-off")
      for (auto& d : a.D) d.reset();
    return a;
  });
  const json& s = v[0].numbers["all-off"]["S_end"];
  ASSERT_EQ(s.size(), 5u);
  for (const json& x : s) EXPECT_NEAR(x.get<double>(), -std::log(1.5), 1e-12);
  for (const json& x : v[0].numbers["first-2"]["S_end"]) EXPECT_NEAR(x.get<double>(), 0.0, 1e-12);
}

TEST_F(RulesOnAnalyses, MatchedSlicesTiesAreNeverReproduced) {
  write_plan(kSlicesPlan);
  // Identical arms: every paired difference is 0, the interval [0, 0] lies neither above nor below.
  const auto v = decide([](const std::string&, int, When w) -> std::optional<FakeAnalysis> {
    return slices(w == When::init ? 1.5 : 2.0, 0.5);
  });
  EXPECT_EQ(v[0].verdict, Verdict::inconclusive) << v[0].measurement;
}

TEST_F(RulesOnAnalyses, MatchedSlicesWithoutTheKeptStepsAnalysisIsNotRun) {
  write_plan(kSlicesPlan);
  const auto v = decide([](const std::string& c, int, When w) -> std::optional<FakeAnalysis> {
    if (w == When::step) return std::nullopt;
    return slices(c == "first-2" && w == When::end ? 3.0 : 1.5, 0.5);
  });
  EXPECT_EQ(v[0].verdict, Verdict::not_run) << v[0].measurement;
}

TEST_F(RulesOnAnalyses, MatchedSlicesParametersAreCheckedBeforeAnyRun) {
  std::string plan = kSlicesPlan;
  const auto expect_error = [&](const std::string& from, const std::string& to, const std::string& message) {
    std::string p = plan;
    p.replace(p.find(from), from.size(), to);
    write_plan(p);
    try {
      load();
      ADD_FAILURE() << "accepted: " << to;
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(message));
    }
  };
  expect_error(R"("at_step": 2000)", R"("at_step": 1500)", "\"decision.C6-matched.at_step\" 1500 is not one of the plan's analysis.at_steps");
  expect_error(R"("last_pair": 5)", R"("last_pair": 6)", "\"decision.C6-matched.last_pair\" names the pair (6, 7)");
  expect_error(R"("first_pair": 2)", R"("first_pair": 2, "estimator": "median")", "\"decision.C6-matched.estimator\" must be");
  expect_error(R"("first_pair": 2)", R"("first_pairs": 2)", "\"decision.C6-matched.first_pairs\" is not a parameter of the rule matched_slices");
  expect_error(R"("treated": "first-2", )", "", "\"decision.C6-matched.treated\" is required");
  expect_error(R"("at_steps": [2000])", R"("at_steps": [7000])", "\"analysis.at_steps\"");
}

// ---- C6 (diagonal_structure) ----------------------------------------------------------------------

const char* kDiagonalPlan = R"({"name": "diag", "base_config": "base.json", "steps": 6800, "seeds": [1, 2, 3, 4, 5],
  "conditions": [{"name": "intact"}, {"name": "all-off", "config": {"model": {"residual_mlp": false, "residual_attention": false}}}],
  "analysis": {"prompts": 100, "at_init": true},
  "decision": {"C6": {"rule": "diagonal_structure", "reference": "intact", "primary": "all-off", "statement": "t"}}})";

TEST_F(RulesOnAnalyses, DiagonalStructureIsDecidedOnPairedSeeds) {
  write_plan(kDiagonalPlan);
  // Seeds differ a lot from each other, arms differ little but consistently within a seed: paired,
  // the differences are clear; resampled as independent groups they would not be.
  const auto v = decide([](const std::string& c, int seed, When w) -> std::optional<FakeAnalysis> {
    FakeAnalysis a = slices((w == When::init ? 1.0 : 2.0) * seed + (c == "intact" && w == When::end ? 0.2 : 0.0), 0.5);
    a.retention.assign(7, 0.1 * seed + (c == "intact" ? 0.05 : 0.0));
    return a;
  });
  EXPECT_EQ(v[0].verdict, Verdict::reproduced) << v[0].measurement;
  EXPECT_EQ(v[0].numbers["all-off"]["paired_seeds"], 5);
}

TEST_F(RulesOnAnalyses, DiagonalStructureRejectsAStructureThatTheUntrainedModelAlreadyHad) {
  write_plan(kDiagonalPlan);
  // Intact is more diagonal after training, but by less than it already was at initialisation.
  const auto v = decide([](const std::string& c, int seed, When w) -> std::optional<FakeAnalysis> {
    const double D = c == "intact" ? (w == When::init ? 6.0 : 4.0 + 0.01 * seed) : 1.5;
    FakeAnalysis a = slices(D, 0.5);
    a.retention.assign(7, c == "intact" ? 0.8 : 0.2);
    return a;
  });
  EXPECT_EQ(v[0].verdict, Verdict::not_reproduced) << v[0].measurement;
}

TEST_F(RulesOnAnalyses, DiagonalStructureCountsCollapsedSlotsAsDOne) {
  write_plan(kDiagonalPlan);
  // all-off collapses after training: D = 1 in the trained mean, not a skipped pair.
  const auto v = decide([](const std::string& c, int seed, When w) -> std::optional<FakeAnalysis> {
    FakeAnalysis a = slices(c == "intact" ? 3.0 + 0.01 * seed : 1.2, 0.5);
    if (c == "all-off" && w == When::end)
      for (auto& d : a.D) d.reset();
    return a;
  });
  for (const json& d : v[0].numbers["all-off"]["D_ablated"]) EXPECT_DOUBLE_EQ(d.get<double>(), 1.0);
}

// ---- X2 (position_probe) --------------------------------------------------------------------------

const char* kProbePlan = R"({"name": "probe", "base_config": "base.json", "steps": 6800, "seeds": [1, 2, 3, 4, 5],
  "conditions": [{"name": "causal"}, {"name": "blind", "config": {"model": {"mask": "none"}}}],
  "analysis": {"prompts": 100},
  "decision": {"X2": {"rule": "position_probe", "learns_position": ["causal"], "min_accuracy": 0.9, "blind": ["blind"],
                      "max_gain": 0.02, "statement": "t"}}})";

FakeAnalysis probe(double layer0, double last) {
  FakeAnalysis a = slices(1.0, last);
  a.position.front() = layer0;
  return a;
}

TEST_F(RulesOnAnalyses, PositionProbeReproducedAndTiesAtEachThreshold) {
  write_plan(kProbePlan);
  auto v = decide([](const std::string& c, int seed, When) -> std::optional<FakeAnalysis> {
    return c == "causal" ? probe(0.3, 0.95 + 0.005 * seed) : probe(0.3, 0.3 + 0.001 * seed);
  });
  EXPECT_EQ(v[0].verdict, Verdict::reproduced) << v[0].measurement;
  // The blind model's gain exactly at max_gain on every seed: [0.02, 0.02] is not below 0.02.
  v = decide([](const std::string& c, int, When) -> std::optional<FakeAnalysis> {
    return c == "causal" ? probe(0.3, 0.97) : probe(0.25, 0.27);
  });
  EXPECT_EQ(v[0].verdict, Verdict::not_reproduced) << v[0].measurement;
  // The causal model exactly at min_accuracy: [0.9, 0.9] is not above 0.9.
  v = decide([](const std::string& c, int, When) -> std::optional<FakeAnalysis> {
    return c == "causal" ? probe(0.3, 0.9) : probe(0.3, 0.3);
  });
  EXPECT_EQ(v[0].verdict, Verdict::not_reproduced) << v[0].measurement;
}

// ---- B4 (alignment) -------------------------------------------------------------------------------

const char* kAlignmentPlan = R"({"name": "align", "base_config": "base.json", "steps": 6000, "seeds": [11, 12, 13, 14, 15, 16, 17, 18],
  "conditions": [{"name": "adamw-none"}, {"name": "adamw-bqv"}],
  "analysis": {"prompts": 100},
  "decision": {"B4": {"rule": "alignment", "with_bias": "adamw-bqv", "without_bias": "adamw-none", "keys": "raw",
                      "min_seeds": 8, "statement": "t"}}})";

FakeAnalysis aligned(double z, std::vector<std::string> tops = {"3", "5"}) {
  FakeAnalysis a = slices(1.0, 0.5);
  a.z_raw = z;
  a.z_actual = -z;  // the rule reads the keys it names, never the other ones
  a.top_tokens = std::move(tops);
  return a;
}

TEST_F(RulesOnAnalyses, AlignmentReproducedAndItsStructureShareIsReported) {
  write_plan(kAlignmentPlan);
  const auto v = decide([](const std::string& c, int seed, When) -> std::optional<FakeAnalysis> {
    return c == "adamw-bqv" ? aligned(4.0 + 0.1 * (seed % 3), {"+", "="}) : aligned(0.5 + 0.1 * (seed % 2));
  });
  EXPECT_EQ(v[0].verdict, Verdict::reproduced) << v[0].measurement;
  EXPECT_DOUBLE_EQ(v[0].numbers["structure_share_difference"][0].get<double>(), 1.0);
  EXPECT_EQ(v[0].numbers["paired_seeds"], 8);
}

TEST_F(RulesOnAnalyses, AlignmentIsNotCarriedByTheUnbiasedArmGettingWorse) {
  write_plan(kAlignmentPlan);
  // The biased runs sit at z = 1 (no alignment); the unbiased ones fall to −3. The paired difference
  // is large, but the biased runs' own z must clear 1.96 too.
  const auto v = decide([](const std::string& c, int seed, When) -> std::optional<FakeAnalysis> {
    return aligned(c == "adamw-bqv" ? 1.0 + 0.05 * (seed % 3) : -3.0);
  });
  EXPECT_EQ(v[0].verdict, Verdict::not_reproduced) << v[0].measurement;
}

TEST_F(RulesOnAnalyses, AlignmentTiedAtTheThresholdIsNotReproduced) {
  write_plan(kAlignmentPlan);
  const auto v = decide([](const std::string& c, int, When) -> std::optional<FakeAnalysis> {
    return aligned(c == "adamw-bqv" ? 1.96 : 0.0);
  });
  EXPECT_EQ(v[0].verdict, Verdict::not_reproduced) << v[0].measurement;
}

TEST_F(RulesOnAnalyses, AlignmentWithTooFewSeedsIsInconclusive) {
  std::string plan = kAlignmentPlan;
  plan.replace(plan.find("[11, 12, 13, 14, 15, 16, 17, 18]"), 32, "[11, 12, 13]");
  write_plan(plan);
  const auto v = decide([](const std::string& c, int seed, When) -> std::optional<FakeAnalysis> {
    return aligned(c == "adamw-bqv" ? 5.0 + 0.1 * seed : 0.0);
  });
  EXPECT_EQ(v[0].verdict, Verdict::inconclusive) << v[0].measurement;
  EXPECT_THAT(v[0].measurement, ::testing::HasSubstr("too few seeds"));
}

}  // namespace
}  // namespace symbreak::experiments

namespace symbreak::experiments {
namespace {

// A ledger binds the runs a plan describes, not its rules: restating a decision rule (or the
// description) after the runs is allowed (the provenance records it), changing any run is not.
TEST_F(RulesOnAnalyses, ALedgerAcceptsRestatedRulesButNotChangedRuns) {
  write_plan(kAlignmentPlan);
  {
    Ledger ledger((dir_ / "ledger.sqlite").string());
    ledger.bind_plan(load());
    ledger.add_runs(load(), {11}, {});
  }
  const auto bind = [&](const std::string& from, const std::string& to) {
    std::string p = kAlignmentPlan;
    p.replace(p.find(from), from.size(), to);
    write_plan(p);
    Ledger ledger((dir_ / "ledger.sqlite").string());
    ledger.bind_plan(load());
  };
  EXPECT_NO_THROW(bind(R"("keys": "raw")", R"("keys": "actual")"));
  EXPECT_NO_THROW(bind(R"("name": "align",)", R"("name": "align", "description": "restated",)"));
  EXPECT_THROW(bind(R"("steps": 6000)", R"("steps": 6001)"), ConfigError);
  EXPECT_THROW(bind(R"({"name": "adamw-none"})", R"({"name": "adamw-none", "config": {"optimizer": {"lr": 0.002}}})"), ConfigError);
  EXPECT_THROW(bind(R"("prompts": 100)", R"("prompts": 200)"), ConfigError);
}

// ---- The per-layer table of results.md ---------------------------------------------------------

TEST_F(RulesOnAnalyses, PerLayerTableIsTheMedianOverTheSeedsThatHaveEachValue) {
  write_plan(kSlicesPlan);
  // first-2: D of pair l at the end is seed + l, except a collapsed pair 0 in seed 15; all-off has no
  // end-of-training analysis for seed 11, so it counts 4 seeds.
  decide([](const std::string& c, int seed, When w) -> std::optional<FakeAnalysis> {
    FakeAnalysis a = slices(w == When::init ? 2.0 : 3.0, 0.9);
    if (w != When::end) return a;
    if (c == "all-off") {
      if (seed == 11) return std::nullopt;
      a.D.assign(6, 1.0);
      return a;
    }
    for (int l = 0; l < 6; ++l) a.D[l] = seed + l;
    if (seed == 15) a.D[0] = std::nullopt;
    return a;
  });
  const std::string md = sweep_markdown(load(), dir_.string());
  EXPECT_THAT(md, ::testing::HasSubstr("| condition | seeds | D per pair (l→l+1), trained | D, untrained | D, step 2000 | "
                                       "own-token retention by layer 1..L, trained | position probe, last layer |\n"));
  EXPECT_THAT(md, ::testing::HasSubstr("| first-2 | 5 | 12.5 14 15 16 17 18 | 2 2 2 2 2 2 | 3 3 3 3 3 3 | "
                                       "0.5 0.5 0.5 0.5 0.5 0.5 | 0.900 |\n"));
  EXPECT_THAT(md, ::testing::HasSubstr("| all-off | 4 | 1 1 1 1 1 1 | 2 2 2 2 2 2 | 3 3 3 3 3 3 | "
                                       "0.5 0.5 0.5 0.5 0.5 0.5 | 0.900 |\n"));
}

}  // namespace
}  // namespace symbreak::experiments
