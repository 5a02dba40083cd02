// The hand-written backward pass against central finite differences in double, over random small
// architectures covering every switch: PE none/learned/sinusoidal, masks none/causal/explicit,
// pre-LayerNorm and final LayerNorm on/off, GELU/GELU-tanh/ReLU, MLP on/off, residuals per layer and
// sublayer, unlearned query/key/value biases.
//
// Tolerance, derived rather than chosen: the central difference g_h has truncation error ≈ c·h², so
// |g_2h − g_h| ≈ 3c·h² estimates it (Richardson), and rounding adds ε/h, where ε is the rounding
// error of one loss evaluation. ε is at least about u·|L| but grows with the forward pass's length
// and cancellation, so it is measured: ε̂ = max over k = 1..4 of |L(w + k·ulp) − L(w) − g_h·k·ulp|
// (a few ulps of the weight move the exact loss linearly, far below rounding). We require
//   |g − g_h| ≤ 4·|g_2h − g_h|/3 + max(8·u·(|L| + 1), 2·ε̂)/h,   u = 2^-53, h = 2^-14.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "symbreak/backward.hpp"
#include "symbreak/layers.hpp"
#include "symbreak/properties/generators.hpp"
#include "symbreak/rng.hpp"

namespace symbreak {
namespace {

double loss_of(const Model<double>& m, const std::vector<int>& tokens, int batch, int seq, const std::vector<int>& targets) {
  Activations<double> acts;
  forward(m, tokens, batch, seq, acts);
  Tensor<double> dlogits;
  return cross_entropy(dlogits, acts.logits, targets);
}

RC_GTEST_PROP(Gradients, BackwardMatchesFiniteDifferences, ()) {
  properties::ArchitectureClass any;
  const properties::SpaceLimits limits{.max_layers = 2, .max_heads = 2, .max_head_width = 3, .max_length = 5, .vocab_size = 6};
  ModelConfig c = *properties::gen::architecture(any, limits);
  const int seq = *rc::gen::inRange(1, limits.max_length + 1), batch = *rc::gen::inRange(1, 3);
  const auto seed = *rc::gen::inRange<std::uint32_t>(0, 1000000);
  Rng rng(seed);
  if (*rc::gen::arbitrary<bool>()) {  // an explicit mask: random, every query sees itself
    c.mask = MaskKind::explicit_mask;
    c.explicit_mask.assign(c.context_length, std::vector<bool>(c.context_length, false));
    for (int i = 0; i < c.context_length; ++i)
      for (int j = 0; j < c.context_length; ++j) c.explicit_mask[i][j] = i == j || rng.below(2);
  }
  if (*rc::gen::arbitrary<bool>()) {  // unlearned biases in every slot
    c.unlearned_bias.resize(c.layers);
    for (auto& b : c.unlearned_bias)
      for (auto* part : {&b.query, &b.key, &b.value}) {
        part->assign(c.heads, std::vector<double>(c.d_head()));
        for (auto& row : *part)
          for (double& v : row) v = 0.5 + 0.1 * rng.normal();
      }
  }
  RC_LOG() << config_to_json(c) << "\nbatch " << batch << " seq " << seq << " seed " << seed << '\n';
  Model<double> m = make_model<double>(c, seed);
  std::vector<int> tokens(static_cast<std::size_t>(batch) * seq), targets(tokens.size());
  for (int& t : tokens) t = static_cast<int>(rng.below(c.vocab_size));
  for (int& t : targets) t = rng.below(4) == 0 ? -1 : static_cast<int>(rng.below(c.vocab_size));
  targets[0] = 0;  // at least one target

  Activations<double> acts;
  forward(m, tokens, batch, seq, acts);
  Tensor<double> dlogits;
  const double loss = cross_entropy(dlogits, acts.logits, targets);
  Weights<double> grads = zero_weights<double>(c);
  backward(m, tokens, acts, dlogits, grads);

  const double h = std::ldexp(1.0, -14), u = std::ldexp(1.0, -53);
  auto params = named_parameters(m.weights);
  const auto grad_params = named_parameters(grads);
  for (std::size_t p = 0; p < params.size(); ++p) {
    Tensor<double>& w = *params[p].second;
    for (int probe = 0; probe < 3; ++probe) {
      const std::size_t i = rng.below(w.size());
      const double original = w.data[i];
      const auto at = [&](double delta) {
        w.data[i] = original + delta;
        const double v = loss_of(m, tokens, batch, seq, targets);
        w.data[i] = original;
        return v;
      };
      const double g_h = (at(h) - at(-h)) / (2 * h), g_2h = (at(2 * h) - at(-2 * h)) / (4 * h);
      // The loss's own rounding noise, measured: steps of a few ulps of the weight move the exact loss
      // by g·step (linear to far below rounding), so what is left over is rounding.
      const double ulp = std::max(std::abs(std::nextafter(original, INFINITY) - original), u);
      double noise = 0;
      for (int k = 1; k <= 4; ++k) noise = std::max(noise, std::abs(at(k * ulp) - loss - g_h * k * ulp));
      const double rounding = std::max(8 * u * (std::abs(loss) + 1), 2 * noise) / h;
      const double bound = 4 * std::abs(g_2h - g_h) / 3 + rounding;
      const double g = grad_params[p].second->data[i];
      RC_LOG() << params[p].first << "[" << i << "]: backward " << g << " fd " << g_h << " bound " << bound
               << " (measured loss noise " << noise << ")\n";
      RC_ASSERT(std::abs(g - g_h) <= bound);
    }
  }
}

// One attention head with logit soft-capping, s = c·tanh(scale·q·k / c), against the same central
// differences and the same derived bound, on L = Σ dO ∘ O. Caps from 0.5 (every score bent) to 50,
// and scores up to a few times the cap, where the slope 1 − tanh² is far from 1.
RC_GTEST_PROP(Gradients, SoftcappedHeadBackwardMatchesFiniteDifferences, ()) {
  const int nq = *rc::gen::inRange(1, 5), nk = *rc::gen::inRange(1, 6), dh = *rc::gen::inRange(1, 4), dv = *rc::gen::inRange(1, 3);
  const double cap = *rc::gen::element(0.5, 1.0, 3.0, 50.0), spread = *rc::gen::element(0.5, 2.0, 6.0);
  const auto seed = *rc::gen::inRange<std::uint32_t>(0, 1000000);
  const bool causal = *rc::gen::arbitrary<bool>() && nq == nk;
  RC_LOG() << "nq " << nq << " nk " << nk << " dh " << dh << " dv " << dv << " cap " << cap << " spread " << spread
           << " causal " << causal << " seed " << seed << '\n';
  Rng rng(seed);
  Tensor<double> q(nq, dh), k(nk, dh), v(nk, dv), dout(nq, dv);
  for (Tensor<double>* t : {&q, &k, &v, &dout})
    for (double& x : t->data) x = spread * rng.normal();
  const double scale = 1 / std::sqrt(static_cast<double>(dh));
  AttentionMask mask;
  mask.causal = causal;
  mask.n_k = nk;
  const auto loss = [&] {
    Tensor<double> out, weights;
    attention_head_forward(out, weights, q, k, v, scale, mask, cap);
    double l = 0;
    for (std::size_t i = 0; i < out.size(); ++i) l += out.data[i] * dout.data[i];
    return l;
  };
  Tensor<double> out, weights, dq, dk, dvv;
  attention_head_forward(out, weights, q, k, v, scale, mask, cap);
  attention_head_backward(dq, dk, dvv, dout, q, k, v, weights, scale, cap);
  const double h = std::ldexp(1.0, -14), u = std::ldexp(1.0, -53), l0 = loss();
  for (auto [x, g, name] : {std::tuple{&q, &dq, "dq"}, std::tuple{&k, &dk, "dk"}, std::tuple{&v, &dvv, "dv"}})
    for (std::size_t i = 0; i < x->size(); ++i) {
      const double original = x->data[i];
      const auto at = [&](double delta) {
        x->data[i] = original + delta;
        const double value = loss();
        x->data[i] = original;
        return value;
      };
      const double g_h = (at(h) - at(-h)) / (2 * h), g_2h = (at(2 * h) - at(-2 * h)) / (4 * h);
      const double ulp = std::max(std::abs(std::nextafter(original, INFINITY) - original), u);
      double noise = 0;
      for (int s = 1; s <= 4; ++s) noise = std::max(noise, std::abs(at(s * ulp) - l0 - g_h * s * ulp));
      const double bound = 4 * std::abs(g_2h - g_h) / 3 + std::max(8 * u * (std::abs(l0) + 1), 2 * noise) / h;
      RC_LOG() << name << "[" << i << "]: backward " << g->data[i] << " fd " << g_h << " bound " << bound << '\n';
      RC_ASSERT(std::abs(g->data[i] - g_h) <= bound);
    }
}

TEST(Gradients, CrossEntropyIgnoresRowsWithoutTargets) {
  Tensor<double> logits(2, 3), d;
  logits.data = {1, 2, 3, 100, -100, 0};
  const double loss = cross_entropy(d, logits, std::vector<int>{2, -1});
  EXPECT_NEAR(loss, std::log(std::exp(1.0 - 3) + std::exp(2.0 - 3) + 1), 1e-12);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(d(1, c), 0.0);
  EXPECT_NEAR(d(0, 0) + d(0, 1) + d(0, 2), 0.0, 1e-15);
}

}  // namespace
}  // namespace symbreak
