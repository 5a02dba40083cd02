// The fast paths (layers_fast.cpp, backward_fast.cpp) against the reference formulas they speed up,
// and the float backward pass training runs against the gradient-checked double backward.
//
// Per layer the bound is derived from the double reference: a fast path may err at most twice as much
// as the float reference does, plus two n-term sums' worth of ulps of the magnitude of the terms it
// sums (n the longest sum; the output's own magnitude, or for the outputs whose sums cancel —
// LayerNorm forward and backward, attention's weighted values and its backward — the bound on
// their terms given at the call),
//   max|fast − ref64| ≤ 2·max|ref32 − ref64| + 2·n·u32·max(1, max|ref64|, terms).
//
// For the whole backward pass: the float gradients of the training path (forward + backward with the
// fast paths) against the gradient-checked double backward of the same float weights. A whole pass
// compounds roundings through ill-conditioned steps (a LayerNorm over d = 2, a near-tie softmax), so
// one float sample says little about another; the rule uses the conditioning, measured. Over 8
// samples (the model, and the model with every weight moved by a random ulp),
//   max|fast − g64| ≤ 2·max|ref32 − g64| + 2·n·(S + u32·A·max(1, max|g64|)),
// where ref32 is the same pass in float with the reference formulas (forward_reference,
// backward_reference), S is the largest move of the exact gradient under those one-ulp weight moves,
// A is the largest LayerNorm amplification rstd·|gain| of the pass (its backward cancels), and n is
// the longest sum in the pass. First-order backward error analysis: a float pass is the exact pass
// with each intermediate moved by about n·u32 relative; S measures what a u32-sized move of the
// weights costs, A what a rounding inside a LayerNorm backward costs. A wrong formula (a missing term,
// a wrong scale) errs by the gradient's own magnitude: dropping mean(dx̂) from the fast LayerNorm
// backward fails both tests at once (errors 6 and 32 against bounds 1e-6 and 4e-4).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "symbreak/backward.hpp"
#include "symbreak/layers.hpp"
#include "symbreak/model.hpp"
#include "symbreak/properties/generators.hpp"
#include "symbreak/rng.hpp"
#include "symbreak/text.hpp"

namespace symbreak {
namespace {

constexpr double kU32 = 0x1p-24;
// Float noise samples per case of the whole-pass test (see noise_sample).
constexpr int kNoiseSamples = 8;

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

template <class A>
double max_diff(const Tensor<A>& a, const Tensor<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a.data[i]) - b.data[i]));
  return m;
}

using text::sci;

// The per-layer rule; `n` is the longest sum the layer computes (a fast path may sum in another
// order: two orders of an n-term float sum differ by up to about n·u32 times the magnitude of the
// terms), `terms` bounds the magnitude of the terms of the output's last sum when they can cancel to
// far less than themselves (0 when they cannot), and `what` names the output in the failure message.
void expect_within_reference(const Tensor<float>& fast, const Tensor<float>& ref32, const Tensor<double>& ref64, int n,
                             const char* what, double terms = 0) {
  const double err_ref = max_diff(ref32, ref64), scale = std::max({1.0, max_abs(ref64), terms});
  const double bound = 2 * err_ref + 2 * n * kU32 * scale, err = max_diff(fast, ref64);
  if (!(err <= bound))
    RC_FAIL(std::string(what) + ": max|fast - ref64| = " + sci(err) + " > bound " + sci(bound) +
            " (2 err_ref = " + sci(2 * err_ref) + ", plus 2 n u32 with n = " + std::to_string(n) + " of " + sci(scale) + ")");
}

RC_GTEST_PROP(FastPaths, LayerNormForwardAndBackwardMatchTheReference, ()) {
  const int rows = *rc::gen::inRange(1, 9), d = *rc::gen::inRange(1, 70);
  Rng rng(*rc::gen::inRange<std::uint32_t>(0, 1u << 31));
  const Tensor<float> x = random_tensor(rows, d, rng, 3), gain = random_tensor(1, d, rng), bias = random_tensor(1, d, rng),
                      dy = random_tensor(rows, d, rng);
  const float eps = 1e-5f;
  Tensor<float> out, mean, rstd, out32, mean32, rstd32;
  Tensor<double> out64, mean64, rstd64;
  fast::layernorm_forward(out, mean, rstd, x, gain, bias, eps);
  layernorm_forward(out32, mean32, rstd32, x, gain, bias, eps);
  layernorm_forward<double>(out64, mean64, rstd64, widen(x), widen(gain), widen(bias), 1e-5);
  // y = (x − mean)·rstd·gain + bias: x − mean cancels (its rounding, u·|x|, is scaled by rstd·gain),
  // and so can the two terms: terms up to |x|·rstd·|gain| + |bias|.
  expect_within_reference(out, out32, out64, d, "layernorm_forward",
                          max_abs(widen(x)) * max_abs(rstd64) * max_abs(widen(gain)) + max_abs(widen(bias)));

  Tensor<float> dx(rows, d), dg(1, d), db(1, d), dx32(rows, d), dg32(1, d), db32(1, d);
  Tensor<double> dx64(rows, d), dg64(1, d), db64(1, d);
  fast::layernorm_backward(dx, dg, db, dy, x, mean, rstd, gain);
  layernorm_backward(dx32, dg32, db32, dy, x, mean32, rstd32, gain);
  layernorm_backward<double>(dx64, dg64, db64, widen(dy), widen(x), mean64, rstd64, widen(gain));
  const double dy_max = max_abs(widen(dy));
  // dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = dy·gain and |x̂|² ≤ d − 1: terms up to
  // rstd·|dx̂|·(1 + d).
  const double dxhat = dy_max * max_abs(widen(gain));
  expect_within_reference(dx, dx32, dx64, std::max(d, rows), "layernorm_backward dx", max_abs(rstd64) * dxhat * (1 + d));
  // dgain = Σ_rows dy·x̂ and dbias = Σ_rows dy cancel across rows: terms up to |dy|·√d and |dy|.
  expect_within_reference(dg, dg32, dg64, std::max(d, rows), "layernorm_backward dgain", dy_max * std::sqrt(d));
  expect_within_reference(db, db32, db64, std::max(d, rows), "layernorm_backward dbias", dy_max);
}

RC_GTEST_PROP(FastPaths, AttentionForwardAndBackwardMatchTheReference, ()) {
  const int heads = *rc::gen::inRange(1, 4), dh = *rc::gen::inRange(1, 20), seq = *rc::gen::inRange(1, 13),
            batch = *rc::gen::inRange(1, 3);
  const auto mask = *rc::gen::element(MaskKind::none, MaskKind::causal);
  Rng rng(*rc::gen::inRange<std::uint32_t>(0, 1u << 31));
  ModelConfig c = make_config(16, 16, heads * dh, heads, 1);
  c.mask = mask;
  const Tensor<float> qkv = random_tensor(batch * seq, 3 * heads * dh, rng, 2),
                      dout = random_tensor(batch * seq, heads * dh, rng);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  Tensor<float> out, att, out32, att32;
  Tensor<double> out64, att64;
  fast::attention_forward(out, att, qkv, batch, seq, heads, scale, c);
  attention_forward(out32, att32, qkv, batch, seq, heads, scale, c);
  attention_forward<double>(out64, att64, widen(qkv), batch, seq, heads, static_cast<double>(scale), c);
  // O = Σ_j P_ij·V_j with P a probability row: terms up to |V|, which can cancel to far less.
  expect_within_reference(out, out32, out64, std::max(seq, dh), "attention_forward out", max_abs(widen(qkv)));
  expect_within_reference(att, att32, att64, std::max(seq, dh), "attention_forward weights");
  // The double fast path (the property catalogue's f64 runs take it) against the double reference.
  Tensor<double> out64_fast, att64_fast;
  fast::attention_forward(out64_fast, att64_fast, widen(qkv), batch, seq, heads, static_cast<double>(scale), c);
  double worst = 0;
  for (std::size_t i = 0; i < out64.size(); ++i) worst = std::max(worst, std::abs(out64_fast.data[i] - out64.data[i]));
  RC_ASSERT(worst <= 64 * 0x1p-53 * std::max(1.0, max_abs(out64)) * (seq + dh));

  Tensor<float> dqkv, dqkv32;
  Tensor<double> dqkv64;
  fast::attention_backward(dqkv, dout, qkv, att, batch, seq, heads, scale);
  attention_backward<float>(dqkv32, dout, qkv, att32, batch, seq, heads, scale);
  attention_backward<double>(dqkv64, widen(dout), widen(qkv), att64, batch, seq, heads, static_cast<double>(scale));
  // dS = P∘(dP − rowsum(dP∘P)) with dP = dO·Vᵀ cancels; dQ and dK sum scale·dS times keys or
  // queries: terms up to scale·2·dh·|dO|·|V|·|K|.
  const double big = max_abs(widen(qkv));
  expect_within_reference(dqkv, dqkv32, dqkv64, std::max(seq, dh), "attention_backward",
                          static_cast<double>(scale) * 2 * dh * max_abs(widen(dout)) * big * big);
}

RC_GTEST_PROP(FastPaths, GeluForwardAndBackwardMatchTheReference, ()) {
  const int rows = *rc::gen::inRange(1, 6), cols = *rc::gen::inRange(1, 90);
  Rng rng(*rc::gen::inRange<std::uint32_t>(0, 1u << 31));
  const Tensor<float> in = random_tensor(rows, cols, rng, 4), dout = random_tensor(rows, cols, rng);
  Tensor<float> out, gate, out32, gate32;
  Tensor<double> out64, gate64;
  fast::gelu_forward(out, in, &gate);
  activation_forward(out32, in, Activation::gelu, &gate32);
  activation_forward<double>(out64, widen(in), Activation::gelu, &gate64);
  // Eigen's vectorised erf and exp are accurate to a few ulps (n = 8 covers them).
  expect_within_reference(out, out32, out64, 8, "gelu");
  expect_within_reference(gate, gate32, gate64, 8, "gelu gate");
  Tensor<float> din, din32;
  Tensor<double> din64;
  fast::gelu_backward(din, dout, in, gate);
  activation_backward(din32, dout, in, gate32, Activation::gelu);
  activation_backward<double>(din64, widen(dout), widen(in), gate64, Activation::gelu);
  expect_within_reference(din, din32, din64, 8, "gelu backward");
}

// How much the LayerNorms of one pass can amplify a rounding error: a LayerNorm backward computes
// rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), whose terms cancel to nearly nothing when the row is nearly
// constant (always, for d = 2), so its rounding error scales with rstd·|gain| times the terms, not
// with the result. The largest over the pass's LayerNorms (their product would bound chains of them
// too, but reaches 1e5 on a tenth of the cases, which would blind the test).
template <class T>
double layernorm_amplification(const Model<T>& m, const Activations<T>& acts) {
  const auto factor = [](const Tensor<T>& rstd, const Tensor<T>& gain) {
    double r = 0, g = 0;
    for (const T& v : rstd.data) r = std::max(r, std::abs(static_cast<double>(v)));
    for (const T& v : gain.data) g = std::max(g, std::abs(static_cast<double>(v)));
    return std::max(1.0, r * std::max(1.0, g));
  };
  double a = 1;
  for (std::size_t l = 0; l < acts.layers.size(); ++l) {
    if (!acts.layers[l].ln1_rstd.data.empty()) a = std::max(a, factor(acts.layers[l].ln1_rstd, m.weights.layers[l].ln1_gain));
    if (!acts.layers[l].ln2_rstd.data.empty()) a = std::max(a, factor(acts.layers[l].ln2_rstd, m.weights.layers[l].ln2_gain));
  }
  if (!acts.lnf_rstd.data.empty()) a = std::max(a, factor(acts.lnf_rstd, m.weights.lnf_gain));
  return a;
}

// The gradients of one model: the training path (fast paths in float), or the reference formulas.
template <class T>
Weights<T> gradients(const Model<T>& m, const std::vector<int>& tokens, int batch, int seq, const std::vector<int>& targets,
                     bool reference = false, double* amplification = nullptr) {
  Activations<T> acts;
  if (reference) forward_reference(m, tokens, batch, seq, acts);
  else forward(m, tokens, batch, seq, acts);
  Tensor<T> dlogits;
  cross_entropy(dlogits, acts.logits, targets);
  Weights<T> g = zero_weights<T>(m.config);
  if (reference) backward_reference(m, tokens, acts, dlogits, g);
  else backward(m, tokens, acts, dlogits, g, true);
  if (amplification) *amplification = layernorm_amplification(m, acts);
  return g;
}

// One sample of the float noise: the model with every weight moved by a random ulp (sample 0 keeps
// it), its float gradients by the training path and by the reference formulas, and the double
// gradients of exactly those float weights.
struct NoiseSample {
  Weights<float> fast, reference;
  Weights<double> exact;
  double amplification = 1;  // layernorm_amplification of the double pass
};

NoiseSample noise_sample(const Model<float>& base, const std::vector<int>& tokens, int batch, int seq,
                         const std::vector<int>& targets, int sample, Rng& rng) {
  Model<float> m32 = base;
  if (sample > 0)
    for (auto& [name, tensor] : named_parameters(m32.weights))
      for (float& v : tensor->data) v = std::nextafter(v, rng.below(2) ? INFINITY : -INFINITY);
  const Model<double> m64 = convert_model<double>(m32);  // exactly the same weights and biases
  NoiseSample s{gradients(m32, tokens, batch, seq, targets), gradients(m32, tokens, batch, seq, targets, true), {}};
  s.exact = gradients(m64, tokens, batch, seq, targets, false, &s.amplification);
  return s;
}

RC_GTEST_PROP(FastPaths, TrainingBackwardInFloatMatchesTheGradientCheckedDoubleBackward, ()) {
  properties::ArchitectureClass any;
  const properties::SpaceLimits limits{.max_layers = 2, .max_heads = 2, .max_head_width = 8, .max_length = 8, .vocab_size = 8};
  const ModelConfig c = *properties::gen::architecture(any, limits);
  const int seq = *rc::gen::inRange(1, limits.max_length + 1), batch = *rc::gen::inRange(1, 4);
  const auto seed = *rc::gen::inRange<std::uint32_t>(0, 1000000);
  RC_LOG() << config_to_json(c) << "\nbatch " << batch << " seq " << seq << " seed " << seed << '\n';
  Rng rng(seed);
  std::vector<int> tokens(static_cast<std::size_t>(batch) * seq), targets(tokens.size());
  for (int& t : tokens) t = static_cast<int>(rng.below(c.vocab_size));
  for (int& t : targets) t = static_cast<int>(rng.below(c.vocab_size));
  const Model<float> base = make_model<float>(c, seed);
  const int n = std::max({c.d_model, c.d_ff, batch * seq, c.vocab_size});
  const std::size_t count = named_parameters(base.weights).size();
  std::vector<double> err_fast(count, 0), err_ref(count, 0), scale(count, 1);
  // sensitivity[i]: how far parameter i's exact gradient moves when every weight moves by one ulp.
  std::vector<double> sensitivity(count, 0);
  double amplification = 1;
  Weights<double> unperturbed;
  for (int sample = 0; sample < kNoiseSamples; ++sample) {
    const NoiseSample s = noise_sample(base, tokens, batch, seq, targets, sample, rng);
    if (sample == 0) unperturbed = s.exact;
    amplification = std::max(amplification, s.amplification);
    const auto f = named_parameters(s.fast), r = named_parameters(s.reference);
    const auto d = named_parameters(s.exact), d0 = named_parameters(std::as_const(unperturbed));
    for (std::size_t i = 0; i < count; ++i) {
      err_fast[i] = std::max(err_fast[i], max_diff(*f[i].second, *d[i].second));
      err_ref[i] = std::max(err_ref[i], max_diff(*r[i].second, *d[i].second));
      sensitivity[i] = std::max(sensitivity[i], max_diff(*d[i].second, *d0[i].second));
      scale[i] = std::max(scale[i], max_abs(*d[i].second));
    }
  }
  const auto names = named_parameters(base.weights);
  for (std::size_t i = 0; i < count; ++i) {
    const double bound = 2 * err_ref[i] + 2 * n * (sensitivity[i] + kU32 * amplification * scale[i]);
    if (!(err_fast[i] <= bound))
      RC_FAIL(names[i].first + ": max over " + std::to_string(kNoiseSamples) + " samples of max|g32 - g64| = " +
              sci(err_fast[i]) + " > bound " + sci(bound) + " (2 err_ref = " + sci(2 * err_ref[i]) + ", 1-ulp sensitivity " +
              sci(sensitivity[i]) + ", LayerNorm amplification " + sci(amplification) + ", n = " + std::to_string(n) + ")");
  }
}

}  // namespace
}  // namespace symbreak
