// The fast paths (layers_fast.cpp, backward_fast.cpp) against the reference formulas they speed up,
// and the float backward pass training runs against the gradient-checked double backward.
//
// Per layer the bound is derived from the double reference: a fast path may err at most twice as much
// as the float reference does, plus two ulps of the output's magnitude,
//   max|fast − ref64| ≤ 2·max|ref32 − ref64| + 2·u32·max(1, max|ref64|).
//
// For the whole backward pass, the same rule with the whole pass: the float gradients of the training
// path (forward + backward with the fast paths) against the gradient-checked double backward, with
// err_ref measured by the same pass in float with the reference formulas (forward_reference,
// backward_reference).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>

#include "symbreak/backward.hpp"
#include "symbreak/layers.hpp"
#include "symbreak/model.hpp"
#include "symbreak/properties/generators.hpp"
#include "symbreak/rng.hpp"

namespace symbreak {
namespace {

constexpr double kU32 = 0x1p-24;

Tensor<float> random_tensor(int rows, int cols, Rng& rng, double scale = 1.0) {
  Tensor<float> t(rows, cols);
  for (float& v : t.data) v = static_cast<float>(rng.normal() * scale);
  return t;
}

Tensor<double> widen(const Tensor<float>& t) {
  return tensor_cast<double>(t, [](float v) { return static_cast<double>(v); });
}

double max_abs(const Tensor<double>& t) {
  double m = 0;
  for (double v : t.data) m = std::max(m, std::abs(v));
  return m;
}

double max_diff(const Tensor<float>& a, const Tensor<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a.data[i]) - b.data[i]));
  return m;
}

std::string sci(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3e", x);
  return b;
}

// The per-layer rule; `n` is the longest sum the layer computes (a fast path may sum in another
// order: two orders of an n-term float sum differ by up to about n·u32 times its magnitude), and
// `what` names the output in the failure message.
void expect_within_reference(const Tensor<float>& fast, const Tensor<float>& ref32, const Tensor<double>& ref64, int n, const char* what) {
  const double err_ref = max_diff(ref32, ref64), scale = std::max(1.0, max_abs(ref64));
  const double bound = 2 * err_ref + 2 * n * kU32 * scale, err = max_diff(fast, ref64);
  if (!(err <= bound))
    RC_FAIL(std::string(what) + ": max|fast - ref64| = " + sci(err) + " > bound " + sci(bound) + " (2 err_ref = " + sci(2 * err_ref) +
            ", plus 2 n u32 with n = " + std::to_string(n) + " of " + sci(scale) + ")");
}

RC_GTEST_PROP(FastPaths, LayerNormForwardAndBackwardMatchTheReference, ()) {
  const int rows = *rc::gen::inRange(1, 9), d = *rc::gen::inRange(1, 70);
  Rng rng(*rc::gen::inRange<std::uint32_t>(0, 1u << 31));
  const Tensor<float> x = random_tensor(rows, d, rng, 3), gain = random_tensor(1, d, rng), bias = random_tensor(1, d, rng),
                      dy = random_tensor(rows, d, rng);
  const float eps = 1e-5f;
  Tensor<float> out, mean, rstd, out32, mean32, rstd32;
  Tensor<double> out64, mean64, rstd64;
  layernorm_forward(out, mean, rstd, x, gain, bias, eps);  // the fast path
  layernorm_forward<float>(out32, mean32, rstd32, x, gain, bias, eps);
  layernorm_forward<double>(out64, mean64, rstd64, widen(x), widen(gain), widen(bias), 1e-5);
  expect_within_reference(out, out32, out64, d, "layernorm_forward");

  Tensor<float> dx(rows, d), dg(1, d), db(1, d), dx32(rows, d), dg32(1, d), db32(1, d);
  Tensor<double> dx64(rows, d), dg64(1, d), db64(1, d);
  layernorm_backward(dx, dg, db, dy, x, mean, rstd, gain);
  layernorm_backward<float>(dx32, dg32, db32, dy, x, mean32, rstd32, gain);
  layernorm_backward<double>(dx64, dg64, db64, widen(dy), widen(x), mean64, rstd64, widen(gain));
  expect_within_reference(dx, dx32, dx64, std::max(d, rows), "layernorm_backward dx");
  expect_within_reference(dg, dg32, dg64, std::max(d, rows), "layernorm_backward dgain");
  expect_within_reference(db, db32, db64, std::max(d, rows), "layernorm_backward dbias");
}

RC_GTEST_PROP(FastPaths, AttentionForwardAndBackwardMatchTheReference, ()) {
  const int heads = *rc::gen::inRange(1, 4), dh = *rc::gen::inRange(1, 20), seq = *rc::gen::inRange(1, 13), batch = *rc::gen::inRange(1, 3);
  const auto mask = *rc::gen::element(MaskKind::none, MaskKind::causal);
  Rng rng(*rc::gen::inRange<std::uint32_t>(0, 1u << 31));
  ModelConfig c = make_config(16, 16, heads * dh, heads, 1);
  c.mask = mask;
  const Tensor<float> qkv = random_tensor(batch * seq, 3 * heads * dh, rng, 2), dout = random_tensor(batch * seq, heads * dh, rng);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  Tensor<float> out, att, out32, att32;
  Tensor<double> out64, att64;
  attention_forward(out, att, qkv, batch, seq, heads, scale, c);
  attention_forward<float>(out32, att32, qkv, batch, seq, heads, scale, c);
  attention_forward<double>(out64, att64, widen(qkv), batch, seq, heads, static_cast<double>(scale), c);
  expect_within_reference(out, out32, out64, std::max(seq, dh), "attention_forward out");
  expect_within_reference(att, att32, att64, std::max(seq, dh), "attention_forward weights");
  // The double fast path (the property catalogue's f64 runs take it) against the double reference.
  Tensor<double> out64_fast, att64_fast;
  attention_forward(out64_fast, att64_fast, widen(qkv), batch, seq, heads, static_cast<double>(scale), c);
  double worst = 0;
  for (std::size_t i = 0; i < out64.size(); ++i) worst = std::max(worst, std::abs(out64_fast.data[i] - out64.data[i]));
  RC_ASSERT(worst <= 64 * 0x1p-53 * std::max(1.0, max_abs(out64)) * (seq + dh));

  Tensor<float> dqkv, dqkv32;
  Tensor<double> dqkv64;
  attention_backward(dqkv, dout, qkv, att, batch, seq, heads, scale);
  attention_backward<float>(dqkv32, dout, qkv, att32, batch, seq, heads, scale);
  attention_backward<double>(dqkv64, widen(dout), widen(qkv), att64, batch, seq, heads, static_cast<double>(scale));
  expect_within_reference(dqkv, dqkv32, dqkv64, std::max(seq, dh), "attention_backward");
}

RC_GTEST_PROP(FastPaths, GeluForwardAndBackwardMatchTheReference, ()) {
  const int rows = *rc::gen::inRange(1, 6), cols = *rc::gen::inRange(1, 90);
  Rng rng(*rc::gen::inRange<std::uint32_t>(0, 1u << 31));
  const Tensor<float> in = random_tensor(rows, cols, rng, 4), dout = random_tensor(rows, cols, rng);
  Tensor<float> out, gate, out32, gate32;
  Tensor<double> out64, gate64;
  activation_forward(out, in, Activation::gelu, &gate);
  activation_forward<float>(out32, in, Activation::gelu, &gate32);
  activation_forward<double>(out64, widen(in), Activation::gelu, &gate64);
  // Eigen's vectorised erf and exp are accurate to a few ulps (n = 8 covers them).
  expect_within_reference(out, out32, out64, 8, "gelu");
  expect_within_reference(gate, gate32, gate64, 8, "gelu gate");
  Tensor<float> din, din32;
  Tensor<double> din64;
  activation_backward(din, dout, in, gate, Activation::gelu);
  activation_backward<float>(din32, dout, in, gate32, Activation::gelu);
  activation_backward<double>(din64, widen(dout), widen(in), gate64, Activation::gelu);
  expect_within_reference(din, din32, din64, 8, "gelu backward");
}

// The gradients of one model: the training path (fast paths in float), or the reference formulas.
template <class T>
Weights<T> gradients(const Model<T>& m, const std::vector<int>& tokens, int batch, int seq, const std::vector<int>& targets,
                     bool reference = false) {
  Activations<T> acts;
  if (reference) forward_reference(m, tokens, batch, seq, acts);
  else forward(m, tokens, batch, seq, acts);
  Tensor<T> dlogits;
  cross_entropy(dlogits, acts.logits, targets);
  Weights<T> g = zero_weights<T>(m.config);
  if (reference) backward_reference(m, tokens, acts, dlogits, g);
  else backward(m, tokens, acts, dlogits, g, true);
  return g;
}

RC_GTEST_PROP(FastPaths, TrainingBackwardInFloatMatchesTheGradientCheckedDoubleBackward, ()) {
  properties::ArchitectureClass any;
  properties::SpaceLimits limits;
  limits.max_layers = 2;
  limits.max_heads = 2;
  limits.max_head_width = 8;
  limits.max_length = 8;
  limits.vocab_size = 8;
  const ModelConfig c = *properties::gen::architecture(any, limits);
  const int seq = *rc::gen::inRange(1, limits.max_length + 1), batch = *rc::gen::inRange(1, 4);
  const auto seed = *rc::gen::inRange<std::uint32_t>(0, 1000000);
  RC_LOG() << config_to_json(c) << "\nbatch " << batch << " seq " << seq << " seed " << seed << '\n';
  Rng rng(seed);
  std::vector<int> tokens(static_cast<std::size_t>(batch) * seq), targets(tokens.size());
  for (int& t : tokens) t = static_cast<int>(rng.below(c.vocab_size));
  for (int& t : targets) t = static_cast<int>(rng.below(c.vocab_size));
  const Model<float> m32 = make_model<float>(c, seed);
  const Model<double> m64 = make_model<double>(c, seed);  // the same weights, exactly
  const Weights<float> fast = gradients(m32, tokens, batch, seq, targets);
  const Weights<float> reference = gradients(m32, tokens, batch, seq, targets, true);
  const Weights<double> exact = gradients(m64, tokens, batch, seq, targets);
  const auto f = named_parameters(fast), r = named_parameters(reference);
  const auto d = named_parameters(exact);
  const int n = std::max({c.d_model, c.d_ff, batch * seq, c.vocab_size});
  for (std::size_t i = 0; i < f.size(); ++i) {
    const double err_ref = max_diff(*r[i].second, *d[i].second), scale = std::max(1.0, max_abs(*d[i].second));
    const double err = max_diff(*f[i].second, *d[i].second), bound = 2 * err_ref + 2 * n * kU32 * scale;
    if (!(err <= bound))
      RC_FAIL(f[i].first + ": max|g32 - g64| = " + sci(err) + " > bound " + sci(bound) + " (2 err_ref = " + sci(2 * err_ref) +
              ", plus 2 n u32 with n = " + std::to_string(n) + ")");
  }
}

}  // namespace
}  // namespace symbreak
