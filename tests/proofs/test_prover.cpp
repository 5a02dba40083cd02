// The prover: right verdicts, never PROVEN where it must not be, agreement with the property suite's
// map, the exhaustive checks and the Bayes ceiling.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "symbreak/proofs/ceiling.hpp"
#include "symbreak/proofs/prover.hpp"
#include "symbreak/properties/generators.hpp"
#include "symbreak/properties/map.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::proofs {
namespace {

ModelConfig small(int layers, MaskKind mask = MaskKind::none, PositionalEncoding pe = PositionalEncoding::none) {
  ModelConfig c = make_config(8, 8, 4, 2, layers);
  c.d_ff = 8;
  c.mask = mask;
  c.positional_encoding = pe;
  return c;
}

TEST(Prover, UnmaskedNoPeIsProvenEverywhere) {
  for (int layers : {1, 2, 3}) {
    const ProofReport r = prove(small(layers), 6);
    EXPECT_EQ(r.equivariance.verdict, Verdict::proven) << layers;
    for (const auto& g : r.positions) EXPECT_EQ(g.verdict, Verdict::proven) << layers << " position " << g.position;
  }
}

TEST(Prover, CausalDepthOneIsProvenAtEveryPosition) {
  const ProofReport r = prove(small(1, MaskKind::causal), 6);
  for (const auto& g : r.positions) EXPECT_EQ(g.verdict, Verdict::proven) << g.position;
  EXPECT_EQ(r.equivariance.verdict, Verdict::refuted);  // causal attention is not equivariant
}

// Soundness: never PROVEN where the symmetry is broken.
TEST(ProverSoundness, CausalAtDepthTwoOrMoreIsNeverProven) {
  for (int layers : {2, 3}) {
    const ProofReport r = prove(small(layers, MaskKind::causal), 5);
    EXPECT_EQ(r.last().verdict, Verdict::refuted) << layers;
    ASSERT_TRUE(r.last().witness);
    EXPECT_NE(r.last().witness->exact_difference, "0");
  }
}

TEST(ProverSoundness, PositionalEncodingsAreNeverProven) {
  for (auto pe : {PositionalEncoding::learned, PositionalEncoding::sinusoidal})
    for (auto mask : {MaskKind::none, MaskKind::causal}) {
      const ProofReport r = prove(small(1, mask, pe), 4);
      EXPECT_EQ(r.last().verdict, Verdict::refuted);
      EXPECT_EQ(r.equivariance.verdict, Verdict::refuted);
    }
}

TEST(ProverSoundness, APositionDependentTermAddedOnlyAfterTheLastBlockIsNeverProven) {
  const int n = 4;
  for (int layers : {1, 2}) {
    ProveOptions o;
    o.symbolic_hook = [&](int layer, Tensor<Expr>& stream) {
      if (layer != layers - 1) return;
      for (int p = 0; p < stream.rows; ++p)
        for (int c = 0; c < stream.cols; ++c)
          stream(p, c) += Expr::symbol("late_position_term[" + std::to_string(p) + "][" + std::to_string(c) + "]");
    };
    o.exact_hook = [&](int layer, Tensor<Exact>& stream) {
      if (layer != layers - 1) return;
      Rng rng(7);  // a generic term: an affine pattern per position would vanish in the final LayerNorm
      for (int p = 0; p < stream.rows; ++p)
        for (int c = 0; c < stream.cols; ++c) stream(p, c) += Exact(static_cast<long>(rng.below(1000))) / 64;
    };
    const ProofReport r = prove(small(layers), n, o);
    EXPECT_NE(r.equivariance.verdict, Verdict::proven) << layers;
    EXPECT_EQ(r.equivariance.verdict, Verdict::refuted) << layers;
  }
}

TEST(ProverSoundness, AMaskThatDiffersBetweenPositionsIsNeverProven) {
  ModelConfig c = small(1);
  c.mask = MaskKind::explicit_mask;
  c.explicit_mask.assign(8, std::vector<bool>(8, true));
  c.explicit_mask[3][1] = false;  // position 4 cannot see position 2; every other query sees everything
  const ProofReport r = prove(c, 4);
  EXPECT_EQ(r.last().verdict, Verdict::refuted);
  EXPECT_EQ(r.equivariance.verdict, Verdict::refuted);
}

// Fuzzing the prover against the Exact evaluator: whenever it says PROVEN, the model in Exact
// arithmetic at random weights shows no difference under a random permutation.
RC_GTEST_PROP(ProverFuzz, ProvenMeansExactlyEqualAtRandomWeights, ()) {
  properties::ArchitectureClass any;
  const properties::SpaceLimits limits{.max_layers = 3, .max_heads = 2, .max_head_width = 3, .max_length = 6};
  ModelConfig config = *properties::gen::architecture(any, limits);
  const int n = *rc::gen::inRange(1, 7);
  const ProofReport r = prove(config, n);
  RC_TAG(std::string(to_string(r.equivariance.verdict)));
  RC_LOG() << "n = " << n << ", config: " << config_to_json(config) << '\n';
  const auto seed = *rc::gen::inRange<std::uint32_t>(0, 1000000);
  Rng rng(seed);
  ModelConfig numeric = r.config;
  numeric.init = InitScheme::scaled;
  const Model<Exact> m = make_model<Exact>(numeric, seed);
  std::vector<int> x(n);
  for (int& t : x) t = static_cast<int>(rng.below(static_cast<std::uint64_t>(numeric.vocab_size)));
  const Permutation sigma = random_permutation_of_prefix(n, n, rng);
  const Tensor<Exact> fx = forward_logits(m, x), fsx = forward_logits(m, apply_permutation(x, sigma));
  if (r.equivariance.verdict == Verdict::proven)
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < fx.cols; ++c) RC_ASSERT(fsx(i, c) == fx(sigma[i], c));
  const Permutation prefix = random_permutation_of_prefix(n, n - 1, rng);
  const Tensor<Exact> fpx = forward_logits(m, apply_permutation(x, prefix));
  if (r.last().verdict == Verdict::proven)
    for (int c = 0; c < fx.cols; ++c) RC_ASSERT(fpx(n - 1, c) == fx(n - 1, c));
  // UNKNOWN is allowed (and reported): degenerate models, e.g. a LayerNorm over width 1, whose output
  // is a constant, are equal for reasons beyond AC (normalise(1/2)·2 = normalise(1) numerically).
}

TEST(ProverMap, AgreesWithThePropertySuitesMapInEveryCell) {
  const auto proved = proof_map(5);
  properties::MapOptions o;
  o.seed = 3;
  o.cases = 15;
  const auto searched = properties::symmetry_map(o);
  ASSERT_EQ(proved.size(), searched.size());
  for (std::size_t i = 0; i < proved.size(); ++i) {
    const auto& p = proved[i];
    const auto& s = searched[i];
    ASSERT_EQ(p.pe, s.pe);
    ASSERT_EQ(p.mask, s.mask);
    ASSERT_EQ(p.depth, s.depth);
    ASSERT_EQ(p.residual, s.residual);
    EXPECT_EQ(p.report.last().verdict == Verdict::proven, s.invariant())
        << to_string(p.pe) << " " << to_string(p.mask) << " depth " << p.depth << " residual " << p.residual;
    EXPECT_NE(p.report.last().verdict, Verdict::unknown);
  }
}

TEST(Exhaustive, CountsEveryPermutation) {
  const auto eq = exhaustive_equivariance(small(2), 5, 1);
  EXPECT_EQ(eq.total, 120u);
  EXPECT_EQ(eq.equal, 120u);
  const auto last = exhaustive_last_position(small(2), 5, 1);
  EXPECT_EQ(last.total, 24u);
  EXPECT_EQ(last.equal, 24u);
  const auto causal = exhaustive_last_position(small(2, MaskKind::causal), 5, 1);
  EXPECT_EQ(causal.total, 24u);
  EXPECT_LT(causal.equal, 24u);  // only the identity (and accidental ties) stay equal
  EXPECT_GE(causal.equal, 1u);
}

TEST(BayesCeiling, MatchesTheExactFractions) {
  const AdditionCeiling c = addition3_ceiling();
  ASSERT_EQ(c.digits.size(), 4u);
  EXPECT_EQ(c.problems, 1000000u);
  EXPECT_EQ(c.digits[0].ceiling, Exact(4503) / 20000);
  EXPECT_EQ(c.digits[1].ceiling, Exact(137587) / 500000);
  EXPECT_EQ(c.digits[2].ceiling, Exact(142917) / 250000);
  EXPECT_EQ(c.digits[3].ceiling, Exact(235717) / 250000);
  EXPECT_EQ(c.whole_upper_bound, Exact(14241) / 250000);
  EXPECT_LE(c.whole_lower_bound, c.whole_upper_bound);
  EXPECT_GE(c.whole_lower_bound, Exact(13149) / 250000);
}

}  // namespace
}  // namespace symbreak::proofs
