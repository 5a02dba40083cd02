// Each layer function against values computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "symbreak/arith.hpp"
#include "symbreak/layers.hpp"
#include "symbreak/rng.hpp"

namespace symbreak {
namespace {

Exact q(long num, long den) { return Exact(num) / den; }

template <class T>
Tensor<T> make(int rows, int cols, std::initializer_list<T> values) {
  Tensor<T> t(rows, cols);
  std::size_t i = 0;
  for (const T& v : values) t.data[i++] = v;
  return t;
}

TEST(Gemm, ExactProductsAreExact) {
  // [1/3 1/2] · [2; 3/5] = 2/3 + 3/10 = 29/30
  const auto a = make<Exact>(1, 2, {q(1, 3), q(1, 2)});
  const auto b = make<Exact>(2, 1, {Exact(2), q(3, 5)});
  Tensor<Exact> c;
  gemm(c, a, b);
  ASSERT_EQ(c.rows, 1);
  ASSERT_EQ(c.cols, 1);
  EXPECT_EQ(c(0, 0), q(29, 30));
  // Transposed: a · aᵀ = 1/9 + 1/4 = 13/36; accumulate adds another 13/36.
  gemm(c, a, a, /*transpose_b=*/true);
  EXPECT_EQ(c(0, 0), q(13, 36));
  gemm(c, a, a, true, /*accumulate=*/true);
  EXPECT_EQ(c(0, 0), q(13, 18));
}

TEST(Gemm, ExactDyadicAndMixedDenominators) {
  // Rows with power-of-two and odd denominators exercise both paths of the common denominator.
  const auto a = make<Exact>(2, 3, {q(1, 4), q(-3, 8), q(5, 2), q(1, 7), q(2, 3), Exact(0)});
  const auto b = make<Exact>(3, 2, {q(1, 2), Exact(3), q(-1, 16), q(1, 5), Exact(1), q(7, 9)});
  Tensor<Exact> c;
  gemm(c, a, b);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      Exact expected(0);
      for (int l = 0; l < 3; ++l) expected += a(i, l) * b(l, j);
      EXPECT_EQ(c(i, j), expected) << i << "," << j;
    }
}

TEST(Gemm, FloatMatchesHandValuesAndRejectsBadShapes) {
  const auto a = make<double>(2, 2, {1, 2, 3, 4});
  const auto b = make<double>(2, 2, {5, 6, 7, 8});
  Tensor<double> c;
  gemm(c, a, b);
  EXPECT_EQ(c.data, (std::vector<double>{19, 22, 43, 50}));
  gemm(c, a, b, true);
  EXPECT_EQ(c.data, (std::vector<double>{17, 23, 39, 53}));
  const auto wrong = make<double>(3, 1, {1, 2, 3});
  EXPECT_THROW(gemm(c, a, wrong), std::invalid_argument);
  EXPECT_THROW(gemm(c, c, a), std::invalid_argument);  // aliasing
}

// Eigen sizes its product blocks by cache sizes it reads from the CPU, and the inner block length
// orders each sum: the reason core pins them (layers.hpp). Pinned before main; the same blocking
// gives the same bits; a 48 KiB L1 (the machine that trained soap-none-s21) rounds differently.
TEST(Gemm, ProductBlockingIsPinnedAndDecidesTheRounding) {
  EXPECT_EQ(product_blocking(), kProductBlocking);
  Rng rng(7);
  Tensor<double> a(8, 1024), b(1024, 8);
  for (double& v : a.data) v = rng.normal();
  for (double& v : b.data) v = rng.normal();
  const auto product = [&] {
    Tensor<double> c;
    gemm(c, a, b);
    return c.data;
  };
  const std::vector<double> pinned = product();
  set_product_blocking({49152, 1310720, 37748736});
  EXPECT_EQ(product_blocking(), (ProductBlocking{49152, 1310720, 37748736}));
  const std::vector<double> other_machine = product();
  set_product_blocking(kProductBlocking);
  EXPECT_EQ(product(), pinned);
  EXPECT_NE(other_machine, pinned) << "a different L1 no longer changes the sum order: the pin may be unnecessary";
  for (std::size_t k = 0; k < pinned.size(); ++k)  // the same sums, only rounded differently
    EXPECT_NEAR(other_machine[k], pinned[k], 1e-12 * 1024);
  EXPECT_THROW(set_product_blocking({0, 1048576, 335544320}), std::invalid_argument);
  EXPECT_EQ(product_blocking(), kProductBlocking);
}

TEST(LayerNorm, MatchesHandComputation) {
  // x = [1 2 3]: mean 2, biased variance 2/3; out = (x - 2)/sqrt(2/3 + eps)·gain + bias.
  const auto x = make<double>(1, 3, {1, 2, 3});
  const auto gain = make<double>(1, 3, {1, 2, 1});
  const auto bias = make<double>(1, 3, {0, 0, 1});
  Tensor<double> out, mean, rstd;
  layernorm_forward(out, mean, rstd, x, gain, bias, 1e-5);
  const double s = 1 / std::sqrt(2.0 / 3 + 1e-5);
  EXPECT_DOUBLE_EQ(mean(0, 0), 2);
  EXPECT_DOUBLE_EQ(rstd(0, 0), s);
  EXPECT_DOUBLE_EQ(out(0, 0), -s);
  EXPECT_DOUBLE_EQ(out(0, 1), 0);
  EXPECT_DOUBLE_EQ(out(0, 2), s + 1);
}

TEST(LayerNorm, ExactStatisticsAreExact) {
  const auto x = make<Exact>(1, 3, {Exact(1), Exact(2), Exact(4)});
  const auto gain = make<Exact>(1, 3, {Exact(1), Exact(1), Exact(1)});
  const auto bias = make<Exact>(1, 3, {Exact(0), Exact(0), Exact(0)});
  Tensor<Exact> out, mean, rstd;
  // eps = 1/9 makes var + eps = 14/9 + 1/9 = 5/3 exactly.
  layernorm_forward(out, mean, rstd, x, gain, bias, q(1, 9));
  EXPECT_EQ(mean(0, 0), q(7, 3));
  EXPECT_EQ(rstd(0, 0), exact_rsqrt(q(5, 3)));
  EXPECT_EQ(out(0, 0), exact_round_fixed((Exact(1) - q(7, 3)) * rstd(0, 0)));
  EXPECT_NEAR(exact_to_double(out(0, 2)), (4 - 7.0 / 3) / std::sqrt(5.0 / 3), 1e-15);
}

TEST(Attention, CausalOneHeadByHand) {
  // One head, dh = 1, n = 2: q = (1, 2), k = (3, 1), v = (10, 20); scale 1/2.
  // Query 0 sees only key 0 → output exactly v0 = 10.
  // Query 1: scores (2·3, 2·1)/2 = (3, 1) → weights (e²/(1+e²), 1/(1+e²)).
  ModelConfig mask;
  mask.mask = MaskKind::causal;
  mask.context_length = 2;
  const auto qkv = make<double>(2, 3, {1, 3, 10, 2, 1, 20});
  Tensor<double> out, att;
  attention_forward(out, att, qkv, 1, 2, 1, 0.5, mask);
  const double w0 = std::exp(2.0) / (1 + std::exp(2.0));
  EXPECT_DOUBLE_EQ(att(0, 0), 1);
  EXPECT_DOUBLE_EQ(att(0, 1), 0);
  EXPECT_DOUBLE_EQ(att(1, 0), w0);
  EXPECT_DOUBLE_EQ(out(0, 0), 10);
  EXPECT_NEAR(out(1, 0), 10 * w0 + 20 * (1 - w0), 1e-13);

  const auto qkv_exact = make<Exact>(2, 3, {Exact(1), Exact(3), Exact(10), Exact(2), Exact(1), Exact(20)});
  Tensor<Exact> out_exact, att_exact;
  attention_forward(out_exact, att_exact, qkv_exact, 1, 2, 1, q(1, 2), mask);
  EXPECT_EQ(out_exact(0, 0), Exact(10));
  EXPECT_EQ(att_exact(0, 1), Exact(0));
  const Exact e = exact_exp(Exact(-2));  // exp(1 - 3)
  EXPECT_EQ(att_exact(1, 0), exact_round_fixed(Exact(1) / (1 + e)));
  EXPECT_EQ(att_exact(1, 1), exact_round_fixed(e / (1 + e)));
  EXPECT_NEAR(exact_to_double(out_exact(1, 0)), 10 * w0 + 20 * (1 - w0), 1e-15);
}

TEST(Attention, TwoHeadsAndBatchAreIndependentBlocks) {
  // Batch 2, n = 1: every query sees only itself, so the output is v, head by head.
  ModelConfig mask;
  mask.context_length = 1;
  const auto qkv = make<double>(2, 6, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Tensor<double> out, att;
  attention_forward(out, att, qkv, 2, 1, 2, 1.0, mask);
  EXPECT_EQ(out.data, (std::vector<double>{5, 6, 11, 12}));
  EXPECT_EQ(att.rows, 4);
}

TEST(Attention, ExplicitMaskWithoutVisibleKeyIsAnError) {
  ModelConfig mask;
  mask.mask = MaskKind::explicit_mask;
  mask.context_length = 2;
  mask.explicit_mask = {{false, false}, {true, true}};
  const auto qkv = make<double>(2, 3, {1, 3, 10, 2, 1, 20});
  Tensor<double> out, att;
  EXPECT_THROW(attention_forward(out, att, qkv, 1, 2, 1, 1.0, mask), std::invalid_argument);
}

TEST(AttentionBias, AddsPerHeadVectors) {
  auto qkv = make<double>(1, 6, {0, 0, 0, 0, 0, 0});  // d = 2, two heads of width 1
  const auto query = make<double>(2, 1, {1, 2}), value = make<double>(2, 1, {5, 6});
  attention_bias_forward(qkv, 2, query, Tensor<double>(), value);
  EXPECT_EQ(qkv.data, (std::vector<double>{1, 2, 0, 0, 5, 6}));
}

TEST(Activation, MatchesHandValues) {
  const auto x = make<double>(1, 3, {-1, 0, 2});
  Tensor<double> out;
  activation_forward(out, x, Activation::relu);
  EXPECT_EQ(out.data, (std::vector<double>{0, 0, 2}));
  activation_forward(out, x, Activation::gelu);
  EXPECT_NEAR(out(0, 0), -0.15865525393145707, 1e-15);
  EXPECT_NEAR(out(0, 2), 1.9544997361036416, 1e-15);
  activation_forward(out, x, Activation::gelu_tanh);
  EXPECT_NEAR(out(0, 2), 1.954597694087775, 1e-15);
  const auto xe = make<Exact>(1, 2, {Exact(-1), Exact(2)});
  Tensor<Exact> oe;
  activation_forward(oe, xe, Activation::gelu);
  EXPECT_EQ(oe(0, 0), -exact_normal_cdf(Exact(-1)));
  EXPECT_NEAR(exact_to_double(oe(0, 1)), 1.9544997361036416, 1e-15);
}

TEST(Embedding, AddsPositionTableByPositionWithinSequence) {
  const auto table = make<double>(3, 2, {1, 2, 3, 4, 5, 6});
  const auto positions = make<double>(2, 2, {10, 20, 30, 40});
  const std::vector<int> tokens{2, 0, 1, 1};  // batch of two sequences of length 2
  Tensor<double> out;
  embedding_forward(out, tokens, 2, table, &positions);
  EXPECT_EQ(out.data, (std::vector<double>{15, 26, 31, 42, 13, 24, 33, 44}));
  embedding_forward<double>(out, tokens, 2, table, nullptr);
  EXPECT_EQ(out.data, (std::vector<double>{5, 6, 1, 2, 3, 4, 3, 4}));
}

TEST(Residual, SwitchesBetweenSumAndPassThrough) {
  const auto a = make<double>(1, 2, {1, 2}), b = make<double>(1, 2, {10, 20});
  Tensor<double> out;
  residual_forward(out, a, b, true);
  EXPECT_EQ(out.data, (std::vector<double>{11, 22}));
  residual_forward(out, a, b, false);
  EXPECT_EQ(out.data, (std::vector<double>{10, 20}));
}

}  // namespace
}  // namespace symbreak
