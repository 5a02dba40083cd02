// The reference model: hand-computed logits, seeds and conversions, captured activations, and the
// agreement of float32, float64 and Exact.
#include <gtest/gtest.h>

#include <cmath>

#include "symbreak/model.hpp"
#include "symbreak/permutation.hpp"
#include "symbreak/rng.hpp"

namespace symbreak {
namespace {

// vocab 2, d 2, one head, one layer, attention only, no LayerNorm, identity weights.
Model<double> identity_model(const ModelConfig& c) {
  Weights<double> w = zero_weights<double>(c);
  w.token_embedding.data = {1, 0, 0, 1};
  for (int i = 0; i < 2; ++i) {
    for (int part = 0; part < 3; ++part) w.layers[0].w_qkv(i, part * 2 + i) = 1;
    w.layers[0].w_o(i, i) = 1;
    w.unembedding(i, i) = 1;
  }
  return make_model<double>(c, w);
}

ModelConfig tiny_config() {
  ModelConfig c = make_config(2, 4, 2, 1, 1);
  c.layernorm = c.final_layernorm = c.mlp = false;
  return c;
}

TEST(Model, TinyModelMatchesHandComputation) {
  // x0 = e1, x1 = e2; q = k = v = x; scores δ_ij/√2. Row 0 weights (a, 1-a), a = e^{1/√2}/(e^{1/√2}+1);
  // with the residual, logits row 0 = (1 + a, 1 - a) and row 1 = (1 - a, 1 + a).
  const Model<double> m = identity_model(tiny_config());
  const std::vector<int> tokens{0, 1};
  const Tensor<double> logits = forward_logits(m, tokens);
  const double a = std::exp(1 / std::sqrt(2.0)) / (std::exp(1 / std::sqrt(2.0)) + 1);
  EXPECT_NEAR(logits(0, 0), 1 + a, 1e-15);
  EXPECT_NEAR(logits(0, 1), 1 - a, 1e-15);
  EXPECT_NEAR(logits(1, 0), 1 - a, 1e-15);
  EXPECT_NEAR(logits(1, 1), 1 + a, 1e-15);

  const Model<Exact> e = convert_model<Exact>(m);
  const Tensor<Exact> exact = forward_logits(e, tokens);
  EXPECT_NEAR(exact_to_double(exact(0, 0)), 1 + a, 1e-15);
  // The two rows are mirror images, exactly.
  EXPECT_EQ(exact(0, 0), exact(1, 1));
  EXPECT_EQ(exact(0, 1), exact(1, 0));

  ModelConfig no_residual = tiny_config();
  no_residual.residual_attention = {false};
  const Tensor<double> bare = forward_logits(identity_model(no_residual), tokens);
  EXPECT_NEAR(bare(0, 0), a, 1e-15);
  EXPECT_NEAR(bare(0, 1), 1 - a, 1e-15);
}

TEST(Model, SameSeedSameWeightsInEveryArithmetic) {
  ModelConfig c = make_config(10, 8, 8, 2, 2);
  c.positional_encoding = PositionalEncoding::learned;
  const Model<float> f1 = make_model<float>(c, 42), f2 = make_model<float>(c, 42), f3 = make_model<float>(c, 43);
  const Model<double> d = make_model<double>(c, 42);
  const Model<Exact> e = make_model<Exact>(c, 42);
  const auto pf = named_parameters(f1.weights), pf2 = named_parameters(f2.weights), pf3 = named_parameters(f3.weights);
  const auto pd = named_parameters(d.weights);
  const auto pe = named_parameters(e.weights);
  ASSERT_EQ(pf.size(), pe.size());
  bool any_differs = false;
  for (std::size_t i = 0; i < pf.size(); ++i) {
    EXPECT_EQ(*pf[i].second, *pf2[i].second) << pf[i].first;
    any_differs = any_differs || !(*pf[i].second == *pf3[i].second);
    for (std::size_t j = 0; j < pf[i].second->size(); ++j) {
      ASSERT_EQ(pd[i].second->data[j], static_cast<double>(pf[i].second->data[j]));
      ASSERT_EQ(pe[i].second->data[j], exact_from_double(pf[i].second->data[j]));
    }
  }
  EXPECT_TRUE(any_differs);
  // gpt2 init: N(0, 0.02²) embeddings; the sample standard deviation is close to 0.02.
  double sum_sq = 0;
  for (float v : f1.weights.token_embedding.data) sum_sq += v * v;
  EXPECT_NEAR(std::sqrt(sum_sq / f1.weights.token_embedding.size()), 0.02, 0.006);
}

TEST(Model, ExplicitWeightsAreShapeChecked) {
  const ModelConfig c = make_config(4, 4, 4, 2, 1);
  Weights<double> w = zero_weights<double>(c);
  w.layers[0].w_o = Tensor<double>(3, 4);
  EXPECT_THROW(make_model<double>(c, w), std::invalid_argument);
  Weights<double> missing = zero_weights<double>(c);
  missing.layers.clear();
  EXPECT_THROW(make_model<double>(c, missing), std::invalid_argument);
}

TEST(Model, ForwardRejectsBadInput) {
  const Model<double> m = make_model<double>(make_config(4, 4, 4, 2, 1), 1);
  Activations<double> acts;
  const std::vector<int> bad_token{0, 4};
  EXPECT_THROW(forward(m, bad_token, 1, 2, acts), std::invalid_argument);
  const std::vector<int> too_long{0, 1, 2, 3, 0};
  EXPECT_THROW(forward(m, too_long, 1, 5, acts), std::invalid_argument);
  EXPECT_THROW(forward(m, too_long, 2, 2, acts), std::invalid_argument);
}

TEST(Model, CapturesEveryIntermediateActivation) {
  ModelConfig c = make_config(6, 8, 8, 2, 3);
  c.init = InitScheme::scaled;
  const Model<double> m = make_model<double>(c, 3);
  const std::vector<int> tokens{1, 2, 3, 4, 5, 0, 1, 2, 2, 2};  // batch 2 × n 5
  Activations<double> acts;
  forward(m, tokens, 2, 5, acts);
  ASSERT_EQ(acts.layers.size(), 3u);
  for (const auto& a : acts.layers) {
    EXPECT_EQ(a.ln1.rows, 10);
    EXPECT_EQ(a.qkv.cols, 24);
    EXPECT_EQ(a.att.rows, 2 * 2 * 5);
    EXPECT_EQ(a.att.cols, 5);
    EXPECT_EQ(a.fc.cols, 32);
    EXPECT_EQ(a.resid_out.rows, 10);
    for (int r = 0; r < a.att.rows; ++r) {
      double sum = 0;
      for (int j = 0; j < 5; ++j) sum += a.att(r, j);
      EXPECT_NEAR(sum, 1, 1e-14);
    }
  }
  // The stream after block l is the stream before it plus both sublayers.
  for (int l = 0; l < 3; ++l) {
    const auto& a = acts.layers[l];
    for (std::size_t i = 0; i < a.resid_out.size(); ++i)
      EXPECT_DOUBLE_EQ(a.resid_out.data[i], acts.stream(l).data[i] + a.att_proj.data[i] + a.mlp_out.data[i]);
  }
  EXPECT_EQ(&acts.stream(3), &acts.layers[2].resid_out);
  EXPECT_EQ(acts.logits.rows, 10);
  EXPECT_EQ(acts.logits.cols, 6);
}

TEST(Model, BatchRowsEqualSeparateForwardsExactly) {
  ModelConfig c = make_config(6, 8, 8, 2, 2);
  c.init = InitScheme::scaled;
  c.mask = MaskKind::causal;
  c.positional_encoding = PositionalEncoding::learned;
  const Model<Exact> m = make_model<Exact>(c, 5);
  const std::vector<int> a{1, 2, 3}, b{3, 3, 0};
  std::vector<int> both = a;
  both.insert(both.end(), b.begin(), b.end());
  Activations<Exact> acts;
  forward(m, both, 2, 3, acts);
  const Tensor<Exact> la = forward_logits(m, a), lb = forward_logits(m, b);
  for (int r = 0; r < 3; ++r)
    for (int v = 0; v < 6; ++v) {
      EXPECT_EQ(acts.logits(r, v), la(r, v));
      EXPECT_EQ(acts.logits(3 + r, v), lb(r, v));
    }
}

// Float32 and float64 agree with Exact within  max|logits_T - logits_exact| <= C · u_T · S, where u_T is
// the unit roundoff (2^-24, 2^-53), S = max(1, max|logits_exact|) and C = 64 · (L + 1). The constant is
// measured: over these configurations the largest observed ratio err / (u_T · S) is printed below and
// documented in src/EXACT.md; C leaves headroom above it without hiding a real discrepancy (a wrong
// formula shows errors of order S, i.e. a ratio of 1/u).
TEST(Model, FloatAgreesWithExactWithinMeasuredBound) {
  double worst_ratio32 = 0, worst_ratio64 = 0;
  int cases = 0;
  for (int layers : {1, 2, 4})
    for (PositionalEncoding pe : {PositionalEncoding::none, PositionalEncoding::learned, PositionalEncoding::sinusoidal})
      for (MaskKind mask : {MaskKind::none, MaskKind::causal})
        for (Activation act : {Activation::gelu, Activation::gelu_tanh, Activation::relu})
          for (bool ln : {true, false}) {
            ModelConfig c = make_config(12, 8, 16, 4, layers);
            c.positional_encoding = pe;
            c.mask = mask;
            c.activation = act;
            c.layernorm = c.final_layernorm = ln;
            c.init = InitScheme::scaled;
            const std::uint64_t seed = 100 + cases++;
            Rng rng(seed);
            std::vector<int> tokens(8);
            for (int& t : tokens) t = static_cast<int>(rng.below(12));
            const Tensor<Exact> exact = forward_logits(make_model<Exact>(c, seed), tokens);
            const Tensor<float> f32 = forward_logits(make_model<float>(c, seed), tokens);
            const Tensor<double> f64 = forward_logits(make_model<double>(c, seed), tokens);
            Exact scale(1), err32(0), err64(0);
            for (std::size_t i = 0; i < exact.size(); ++i) {
              scale = std::max(scale, Exact(abs(exact.data[i])));
              err32 = std::max(err32, Exact(abs(exact_from_double(f32.data[i]) - exact.data[i])));
              err64 = std::max(err64, Exact(abs(exact_from_double(f64.data[i]) - exact.data[i])));
            }
            const double s = exact_to_double(scale), C = 64.0 * (layers + 1);
            const double u32 = std::ldexp(1.0, -24), u64 = std::ldexp(1.0, -53);
            const double e32 = exact_to_double(err32), e64 = exact_to_double(err64);
            EXPECT_LE(e32, C * u32 * s) << config_to_json(c);
            EXPECT_LE(e64, C * u64 * s) << config_to_json(c);
            worst_ratio32 = std::max(worst_ratio32, e32 / (u32 * s));
            worst_ratio64 = std::max(worst_ratio64, e64 / (u64 * s));
          }
  std::printf("[ measured ] %d configs: worst err/(u·S) = %.1f (f32), %.1f (f64); bound C = 64·(L+1)\n", cases, worst_ratio32,
              worst_ratio64);
}

}  // namespace
}  // namespace symbreak
