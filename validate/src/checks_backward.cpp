// The backward checks of the op catalogue, and PADDING.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "checks.hpp"
#include "symbreak/rng.hpp"
#include "symbreak/text.hpp"
#include "symbreak/validate/reference.hpp"

namespace symbreak::validate::checks {

// ---- backward ------------------------------------------------------------------------------------

// BWD-REFERENCE, BWD-ROBUST: each of dQ, dK, dV within c·err_ref + atol of the exact gradient.
OpOutcome check_bwd_reference(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const GradientReference ref(c.op);
  const CallResult r = f.backward(c.op, ref.o);
  if (!r.ok()) return call_failed(r, c.op);
  OpOutcome worst;
  for (int g = 0; g < 3; ++g) {
    OpOutcome o =
        compare(c.op, g, gradient(r, g), ref.exact[g], all_indices(ref.exact[g].size()),
                bound_against_reference(t, ref.err[g], ref.scale[g], ref.terms[g], ref.unit), "gradient vs exact reference");
    o.ref_err = ref.err[g];
    worst = g == 0 ? o : worse(worst, o);
  }
  return worst;
}

// A backward invariance: the gradients of x2, at `indices[t]` of tensor t, equal those of x.
// `source(g, i)`: the element of x's gradient g that element i of x2's gradient g must equal
// (the identity unless the transform moves elements, as GQA-PERM's does).
using GradientSource = std::function<std::size_t(int, std::size_t)>;
// `follow_exact`: the transform is an invariance only before rounding (K + 1·δᵀ), so the expected
// value follows the exact gradients' change, G1 + (E2 − E1).
OpOutcome check_bwd_invariance(Kernel& f, const AttentionOp& x, const AttentionOp& x2, const Tolerance& t,
                               const std::vector<std::size_t> (&indices)[3], const std::string& what,
                               const GradientSource& source = {}, bool follow_exact = false) {
  const GradientReference r1(x), r2(x2);
  const CallResult g1 = f.backward(x, r1.o);
  if (!g1.ok()) return call_failed(g1, x);
  const CallResult g2 = f.backward(x2, r2.o);
  if (!g2.ok()) return call_failed(g2, x2);
  OpOutcome worst;
  bool any = false;
  for (int g = 0; g < 3; ++g) {
    if (indices[g].empty()) continue;
    const auto from = [&](std::size_t i) { return source ? source(g, i) : i; };
    std::vector<double> expected(gradient(g2, g).size());
    for (std::size_t i = 0; i < expected.size(); ++i)
      expected[i] = gradient(g1, g)[from(i)] + (follow_exact ? r2.exact[g][i] - r1.exact[g][from(i)] : 0.0);
    const ElementBound bound{t.c * (r1.err[g] + r2.err[g]), 2 * t.atol_ulps * r1.unit, std::max(r1.scale[g], r2.scale[g]),
                             [&](std::size_t i) { return std::max(r1.terms[g][from(i)], r2.terms[g][i]); }};
    OpOutcome o = compare(x2, g, gradient(g2, g), expected, indices[g], bound, what);
    o.ref_err = r1.err[g] + r2.err[g];
    worst = any ? worse(worst, o) : o;
    any = true;
  }
  return worst;
}

// BWD-CAUSAL: the queries before `position` change (their q and dO rows); no key at or after it may
// notice, because none of those queries can see it: dK_j and dV_j for j ≥ position are unchanged.
OpOutcome check_bwd_causal(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const int first = std::clamp(c.transform.position, 1, x.n_q);
  AttentionOp x2 = x;
  Rng rng(c.transform.seed);
  const auto before = [&](int i) { return i < first; };
  redraw_rows(x2.q, x.batch * x.heads, x.n_q, x.d_head, rng, before, x.dtype);
  redraw_rows(x2.d_out, x.batch * x.heads, x.n_q, x.d_v, rng, before, x.dtype);
  const auto later_key = [&](int j) { return j >= first; };
  const std::vector<std::size_t> idx[3] = {{}, rows_where(x, x.n_k, x.d_head, later_key), rows_where(x, x.n_k, x.d_v, later_key)};
  return check_bwd_invariance(f, x, x2, t, idx, "queries that cannot see a key changed; its dK, dV");
}

// BWD-GQA-PERM: GQA-PERM's shuffle permutes dQ like Q and dK, dV like K, V (their group sums are
// taken in another order, which the bound allows).
OpOutcome check_bwd_gqa_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const std::vector<int>& perm = c.transform.permutation;
  const int kvh = x.kv_heads(), group = x.heads / kvh;
  std::vector<int> kv_perm(static_cast<std::size_t>(kvh));
  for (int g = 0; g < kvh; ++g) kv_perm[static_cast<std::size_t>(g)] = perm[static_cast<std::size_t>(g * group)] / group;
  const std::vector<std::size_t> idx[3] = {all_indices(x.q_size()), all_indices(x.k_size()), all_indices(x.v_size())};
  const std::size_t per_head[3] = {static_cast<std::size_t>(x.n_q) * x.d_head, static_cast<std::size_t>(x.n_k) * x.d_head,
                                   static_cast<std::size_t>(x.n_k) * x.d_v};
  return check_bwd_invariance(
      f, x, permute_grouped_heads(x, perm), t, idx, "KV heads and the query heads within their groups permuted",
      [&](int g, std::size_t i) { return index_before_head_permutation(i, g == 0 ? perm : kv_perm, per_head[g]); });
}

// BWD-MASK: the queries that may not attend key `position` change (q and dO rows); its dK and dV are
// unchanged, and a key that no query may attend gets exactly zero gradient (within atol).
OpOutcome check_bwd_mask(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const int j = std::clamp(c.transform.position, 0, x.n_k - 1);
  const AttentionMask m = x.visibility();
  const auto blind = [&](int i) { return !m.visible(i, j); };
  bool nobody = true;
  for (int i = 0; i < x.n_q; ++i) nobody = nobody && blind(i);
  if (nobody) {
    const GradientReference ref(x);
    const CallResult r = f.backward(x, ref.o);
    if (!r.ok()) return call_failed(r, x);
    OpOutcome worst;
    for (int g = 1; g < 3; ++g) {
      const TensorShape s = shape_of(x, g);
      const std::vector<double> zero(gradient(r, g).size(), 0.0);
      OpOutcome o =
          compare(x, g, gradient(r, g), zero, rows_where(x, s.rows, s.cols, [&](int r) { return r == j; }),
                  ElementBound{0, t.atol_ulps * ref.unit, ref.scale[g], {}}, "a key no query may attend has nonzero gradient");
      worst = g == 1 ? o : worse(worst, o);
    }
    return worst;
  }
  AttentionOp x2 = x;
  Rng rng(c.transform.seed);
  redraw_rows(x2.q, x.batch * x.heads, x.n_q, x.d_head, rng, blind, x.dtype);
  redraw_rows(x2.d_out, x.batch * x.heads, x.n_q, x.d_v, rng, blind, x.dtype);
  const auto key = [&](int r) { return r == j; };
  const std::vector<std::size_t> idx[3] = {{}, rows_where(x, x.n_k, x.d_head, key), rows_where(x, x.n_k, x.d_v, key)};
  return check_bwd_invariance(f, x, x2, t, idx, "queries that may not attend a key changed; its dK, dV");
}

// BWD-ROWSUM: every softmax row's gradient sums to zero, Σ_j dS_ij = 0. Observed through the keys:
// adding one vector δ to every key row shifts row i's scores by scale·q_i·δ and leaves the softmax,
// O, dS, dK and dV unchanged, and changes dQ_i by scale·(Σ_j dS_ij)·δ, which is zero exactly then.
OpOutcome check_bwd_rowsum(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  AttentionOp x2 = x;
  Rng rng(c.transform.seed);
  std::vector<float> delta(x.d_head);
  for (float& d : delta) d = static_cast<float>(rng.normal());
  for (std::size_t i = 0; i < x2.k.size(); ++i) x2.k[i] += delta[i % x.d_head];
  x2.round_to_dtype();
  const std::vector<std::size_t> idx[3] = {all_indices(x.q_size()), all_indices(x.k_size()), all_indices(x.v_size())};
  return check_bwd_invariance(f, x, x2, t, idx, "every key shifted by one vector (a softmax row's gradient must sum to 0)", {},
                              /*follow_exact=*/true);
}

// PADDING: REFERENCE, then the keys past each batch item's length poisoned (NaN and ±3e38 in K and
// V, or ±1e30 only when the kernel declares masked-finite): the output must be bit-identical to the
// clean run's. Nothing may flow from padding (the varlen form of pytorch#101967).
OpOutcome check_padding(Kernel& f, const OpCase& c, const Tolerance& t, bool strict) {
  OpOutcome o = check_reference(f, c, t, strict);
  if (!o.passed || c.op.kv_lens.empty()) return o;
  const AttentionOp& x = c.op;
  const CallResult clean = f.forward(x);
  if (!clean.ok()) return call_failed(clean, x);
  const bool finite_only = f.capabilities().masked_finite;
  for (const Poison& poison : kPoisons) {
    if (finite_only && !poison.finite) continue;
    AttentionOp dirty = x;
    for (int b = 0; b < x.batch; ++b)
      for (int h = 0; h < x.kv_heads(); ++h)
        for (int j = x.kv_len(b); j < x.n_k; ++j) {
          const std::size_t row = (static_cast<std::size_t>(b) * x.kv_heads() + h) * x.n_k + j;
          if (poison.in_k)
            for (int cc = 0; cc < x.d_head; ++cc) dirty.k[row * x.d_head + cc] = poison.value;
          if (poison.in_v)
            for (int cc = 0; cc < x.d_v; ++cc) dirty.v[row * x.d_v + cc] = poison.value;
        }
    dirty.round_to_dtype();
    const CallResult r = f.forward(dirty);
    if (!r.ok()) return call_failed(r, dirty);
    for (std::size_t i = 0; i < r.out.size(); ++i)
      if (!same_bits(r.out[i], clean.out[i])) {
        OpOutcome bad;
        bad.passed = false;
        bad.error = std::isfinite(r.out[i]) ? std::abs(static_cast<double>(r.out[i]) - clean.out[i])
                                            : std::numeric_limits<double>::infinity();
        bad.element = element_at(x, x.n_q, x.d_v, i, "O");
        bad.message = std::string("padded keys poisoned with ") + poison.what + " changed the output (" +
                      std::to_string(r.out[i]) + " instead of " + std::to_string(clean.out[i]) + ")";
        return bad;
      }
  }
  return o;
}

}  // namespace symbreak::validate::checks
