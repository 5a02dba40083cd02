// The forward checks of the op catalogue, and --compare (two kernels on one case).
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

namespace symbreak::validate {

using namespace checks;

namespace checks {

// ---- forward -------------------------------------------------------------------------------------

// REFERENCE, ROBUST: max|O − E| ≤ c·err_ref + atol.
OpOutcome check_reference(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const Reference ref(c.op);
  const CallResult r = f.forward(c.op);
  if (!r.ok()) return call_failed(r, c.op);
  OpOutcome o = compare(c.op, kOutput, r.out, ref.exact, all_indices(c.op.out_size()),
                        bound_against_reference(t, ref.err, ref.scale, ref.terms, ref.unit), "output vs exact reference");
  o.ref_err = ref.err;
  return o;
}

// ---- --compare: two kernels on one case -----------------------------------------------------------

// The flat index of an element of tensor t ([batch][heads][rows][cols]; K-shaped tensors: KV heads).
std::size_t flat_index(const AttentionOp& op, int t, const Element& e) {
  const TensorShape s = shape_of(op, t);
  const int heads = t == 1 || t == 2 ? op.kv_heads() : op.heads;
  return ((static_cast<std::size_t>(e.batch) * heads + e.head) * s.rows + e.row) * s.cols + e.col;
}

// A and B each lie within `one.at(i)` of the exact value when correct, so they may differ by twice
// that. Compared both ways round: a NaN on either side is a disagreement.
OpOutcome disagreement(const AttentionOp& op, int t, const std::vector<float>& a, const std::vector<float>& b,
                       const std::vector<double>& exact, const ElementBound& one, const std::string& a_name,
                       const std::string& b_name) {
  const ElementBound both{2 * one.fixed, 2 * one.atol_unit, one.floor, one.terms};
  const std::vector<std::size_t> all = all_indices(a.size());
  OpOutcome ab = compare(op, t, a, std::vector<double>(b.begin(), b.end()), all, both, "A vs B");
  const OpOutcome ba = compare(op, t, b, std::vector<double>(a.begin(), a.end()), all, both, "B vs A");
  if (ab.passed && !ba.passed) ab = ba;
  if (ab.passed) return ab;
  const std::size_t i = flat_index(op, t, ab.element);
  const auto off = [&](float x) { return !(std::abs(static_cast<double>(x) - exact[i]) <= one.at(i)); };
  const bool a_off = off(a[i]), b_off = off(b[i]);
  const std::string verdict = a_off && b_off ? "both are off the exact value"
                              : a_off        ? a_name + " (A) is off the exact value; " + b_name + " (B) is within its bound"
                              : b_off        ? b_name + " (B) is off the exact value; " + a_name + " (A) is within its bound"
                                             : "each is within its bound of the exact value";
  ab.error = std::abs(static_cast<double>(a[i]) - b[i]);
  ab.bound = both.at(i);
  ab.message = "A = " + text::shortest(a[i]) + ", B = " + text::shortest(b[i]) + ", exact = " + text::shortest(exact[i]) +
               " (each correct kernel within " + text::shortest(one.at(i)) + " of it): " + verdict;
  return ab;
}

// A kernel that did not produce a result, named.
OpOutcome call_failed_named(const CallResult& r, const AttentionOp& op, const std::string& which) {
  OpOutcome o = call_failed(r, op);
  o.message = which + ": " + o.message;
  return o;
}

}  // namespace checks

OpOutcome check_agreement(Kernel& a, Kernel& b, const OpCase& c, const Tolerance& t, bool backward) {
  const AttentionOp& x = c.op;
  if (!backward) {
    const Reference ref(x);
    const CallResult ra = a.forward(x);
    if (!ra.ok()) return call_failed_named(ra, x, "A " + a.name());
    const CallResult rb = b.forward(x);
    if (!rb.ok()) return call_failed_named(rb, x, "B " + b.name());
    OpOutcome o = disagreement(x, kOutput, ra.out, rb.out, ref.exact,
                               bound_against_reference(t, ref.err, ref.scale, ref.terms, ref.unit), a.name(), b.name());
    o.ref_err = ref.err;
    return o;
  }
  const GradientReference ref(x);
  const CallResult ra = a.backward(x, ref.o);
  if (!ra.ok()) return call_failed_named(ra, x, "A " + a.name());
  const CallResult rb = b.backward(x, ref.o);
  if (!rb.ok()) return call_failed_named(rb, x, "B " + b.name());
  OpOutcome worst;
  for (int g = 0; g < 3; ++g) {
    OpOutcome o = disagreement(x, g, gradient(ra, g), gradient(rb, g), ref.exact[g],
                               bound_against_reference(t, ref.err[g], ref.scale[g], ref.terms[g], ref.unit), a.name(), b.name());
    o.ref_err = ref.err[g];
    if (!o.passed) return o;  // the first tensor that disagrees
    worst = g == 0 ? o : worse(worst, o);
  }
  return worst;
}

namespace checks {

// An invariance O(x') = T(O(x)): `expected_index(i)` is the index of O(x) that output i of O(x') must equal.
template <class Map>
OpOutcome check_invariance(Kernel& f, const AttentionOp& x, const AttentionOp& x2, const Tolerance& t, Map expected_index,
                           const std::vector<std::size_t>& indices, const std::string& what) {
  const Reference r1(x), r2(x2);
  const CallResult o1 = f.forward(x);
  if (!o1.ok()) return call_failed(o1, x);
  const CallResult o2 = f.forward(x2);
  if (!o2.ok()) return call_failed(o2, x2);
  std::vector<double> expected(o2.out.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = o1.out[expected_index(i)];
  // Both runs round: twice the atol of the larger term size of the two elements compared.
  const ElementBound bound{t.c * (r1.err + r2.err), 2 * t.atol_ulps * r1.unit, std::max(r1.scale, r2.scale),
                           [&](std::size_t i) { return std::max(r2.terms[i], r1.terms[expected_index(i)]); }};
  OpOutcome o = compare(x2, kOutput, o2.out, expected, indices, bound, what);
  o.ref_err = r1.err + r2.err;
  return o;
}

const auto same_index = [](std::size_t i) { return i; };

OpOutcome check_kv_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  return check_invariance(f, c.op, permute_keys(c.op, c.transform.permutation), t, same_index, all_indices(c.op.out_size()),
                          "keys and values (and mask columns) permuted");
}

OpOutcome check_q_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const auto& perm = c.transform.permutation;
  return check_invariance(
      f, x, permute_queries(x, perm), t,
      [&](std::size_t i) {
        const std::size_t col = i % x.d_v, row = (i / x.d_v) % x.n_q, bh = i / (static_cast<std::size_t>(x.d_v) * x.n_q);
        return (bh * x.n_q + perm[row]) * x.d_v + col;
      },
      all_indices(x.out_size()), "queries permuted");
}

// CAUSAL: keys at or after `position` change; queries before it cannot see them.
OpOutcome check_causal(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const int first = std::clamp(c.transform.position, 1, x.n_k);
  const AttentionOp x2 = replace_key_rows(x, c.transform.seed, [&](int j) { return j >= first; });
  return check_invariance(f, x, x2, t, same_index, rows_where(x, x.n_q, x.d_v, [&](int i) { return i < first; }),
                          "keys a query cannot see changed");
}

// MASK: key row `position` changes; every query that may not attend it keeps its output.
OpOutcome check_mask(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const int j = std::clamp(c.transform.position, 0, x.n_k - 1);
  const AttentionOp x2 = replace_key_rows(x, c.transform.seed, [&](int r) { return r == j; });
  const AttentionMask m = x.visibility();
  return check_invariance(f, x, x2, t, same_index, rows_where(x, x.n_q, x.d_v, [&](int i) { return !m.visible(i, j); }),
                          "a masked key changed");
}

// CONVEX: each output lies in the hull of the visible values (within the reference tolerance), and
// adding δ to every value row adds δ to every output.
OpOutcome check_convex(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const Reference ref(x);
  const CallResult r = f.forward(x);
  if (!r.ok()) return call_failed(r, x);
  const ElementBound hull = bound_against_reference(t, ref.err, ref.scale, ref.terms, ref.unit);
  const AttentionMask m = x.visibility();
  OpOutcome o;
  o.bound = hull.at(0);
  o.ref_err = ref.err;
  o.atol = hull.atol(0);
  for (int b = 0; b < x.batch; ++b)
    for (int h = 0; h < x.heads; ++h)
      for (int i = 0; i < x.n_q; ++i)
        for (int col = 0; col < x.d_v; ++col) {
          double lo = std::numeric_limits<double>::infinity(), hi = -lo;
          for (int j = 0; j < x.n_k; ++j) {
            if (!m.visible(i, j)) continue;
            const double vj = x.v[flat(x.heads, x.n_k, x.d_v, b, h, j, col)];
            lo = std::min(lo, vj);
            hi = std::max(hi, vj);
          }
          const std::size_t index = flat(x.heads, x.n_q, x.d_v, b, h, i, col);
          const double out = r.out[index], slack = hull.at(index);
          const double outside =
              !std::isfinite(out) ? std::numeric_limits<double>::infinity() : std::max({lo - out, out - hi, 0.0});
          if (outside > o.error || (!std::isfinite(outside) && o.passed)) {
            o.error = outside;
            o.bound = slack;
            o.atol = hull.atol(index);
            o.element = {"O", b, h, i, col};
          }
          if (outside > slack && o.passed) {
            o.passed = false;
            o.message = fmt::format("output {:.6g} lies {:.3e} outside the visible values' range [{:.6g}, {:.6g}] (slack {:.3e})",
                                    out, outside, lo, hi, slack);
          }
        }
  if (!o.passed) return o;
  // The shift: V + 1·δᵀ.
  AttentionOp shifted = x;
  Rng rng(c.transform.seed);
  std::vector<float> delta(x.d_v);
  for (float& d : delta) d = static_cast<float>(rng.normal());
  for (std::size_t i = 0; i < shifted.v.size(); ++i) shifted.v[i] += delta[i % x.d_v];
  shifted.round_to_dtype();
  const Reference r2(shifted);
  const CallResult o2 = f.forward(shifted);
  if (!o2.ok()) return call_failed(o2, shifted);
  // The shift the output must follow is the exact one, E(V') − E(V): V' = V + δ rounded (to float32 or
  // the dtype) is not exactly V + δ, and in f16/bf16 the difference is far above the atol.
  std::vector<double> expected(o2.out.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<double>(r.out[i]) + (r2.exact[i] - ref.exact[i]);
  const ElementBound bound{t.c * (ref.err + r2.err), 2 * t.atol_ulps * ref.unit, std::max(ref.scale, r2.scale),
                           [&](std::size_t i) { return std::max(ref.terms[i], r2.terms[i]); }};
  OpOutcome shift = compare(x, kOutput, o2.out, expected, all_indices(x.out_size()), bound, "values shifted by δ");
  shift.ref_err = ref.err + r2.err;
  return worse(o, shift);
}

OpOutcome check_heads(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const auto& perm = c.transform.permutation;
  return check_invariance(
      f, x, permute_heads(x, perm), t,
      [&](std::size_t i) {
        const std::size_t per_head = static_cast<std::size_t>(x.n_q) * x.d_v;
        const std::size_t h = (i / per_head) % x.heads, b = i / (per_head * x.heads);
        return (b * x.heads + perm[h]) * per_head + i % per_head;
      },
      all_indices(x.out_size()), "heads permuted");
}

// GQA-PERM: shuffling the KV heads (each with its group of query heads) and the query heads inside
// each group shuffles the output heads the same way.
OpOutcome check_gqa_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const std::vector<int>& perm = c.transform.permutation;
  const std::size_t per_head = static_cast<std::size_t>(x.n_q) * x.d_v;
  return check_invariance(
      f, x, permute_grouped_heads(x, perm), t, [&](std::size_t i) { return index_before_head_permutation(i, perm, per_head); },
      all_indices(x.out_size()), "KV heads and the query heads within their groups permuted");
}

OpOutcome check_batch(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const auto& perm = c.transform.permutation;
  return check_invariance(
      f, x, permute_batch(x, perm), t,
      [&](std::size_t i) {
        const std::size_t per_batch = static_cast<std::size_t>(x.heads) * x.n_q * x.d_v;
        return perm[i / per_batch] * per_batch + i % per_batch;
      },
      all_indices(x.out_size()), "batch items permuted");
}

// DETERMINISM, BWD-DETERMINISM: the same input, run kReruns times, gives the same bits. A warning
// unless the kernel declares `deterministic` (or --strict-determinism): then a failure.
constexpr int kReruns = 3;

OpOutcome first_difference(const AttentionOp& op, int t, const std::vector<float>& a, const std::vector<float>& b, bool strict,
                           int run) {
  OpOutcome o;
  const TensorShape s = shape_of(op, t);
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a[i], b[i])) {
      o.passed = !strict;
      o.warning = true;
      o.error = std::abs(static_cast<double>(a[i]) - b[i]);
      o.element = element_at(op, s.rows, s.cols, i, s.name);
      o.message = "run " + std::to_string(run) + " of the same input differs from run 1 in " + s.name + " (bits " +
                  std::to_string(std::bit_cast<std::uint32_t>(a[i])) + " vs " +
                  std::to_string(std::bit_cast<std::uint32_t>(b[i])) + ")" +
                  (strict ? "; the kernel declares itself deterministic" : "");
      break;
    }
  return o;
}

OpOutcome check_determinism(Kernel& f, const OpCase& c, const Tolerance&, bool strict) {
  const CallResult first = f.forward(c.op);
  if (!first.ok()) return call_failed(first, c.op);
  for (int run = 2; run <= kReruns; ++run) {
    const CallResult again = f.forward(c.op);
    if (!again.ok()) return call_failed(again, c.op);
    if (OpOutcome o = first_difference(c.op, kOutput, first.out, again.out, strict, run); o.warning) return o;
  }
  return {};
}

OpOutcome check_bwd_determinism(Kernel& f, const OpCase& c, const Tolerance&, bool strict) {
  const std::vector<float> o = float_forward(c.op);
  const CallResult first = f.backward(c.op, o);
  if (!first.ok()) return call_failed(first, c.op);
  for (int run = 2; run <= kReruns; ++run) {
    const CallResult again = f.backward(c.op, o);
    if (!again.ok()) return call_failed(again, c.op);
    for (int g = 0; g < 3; ++g) {
      const std::vector<float>& a = g == 0 ? first.dq : g == 1 ? first.dk : first.dv;
      const std::vector<float>& b = g == 0 ? again.dq : g == 1 ? again.dk : again.dv;
      if (OpOutcome out = first_difference(c.op, g, a, b, strict, run); out.warning) return out;
    }
  }
  return {};
}

// MASKED-INDEPENDENCE: keys a query cannot see are poisoned and that query's output must equal the
// clean run's exactly (float equality; nothing may flow from a masked key, pytorch#101967). Causal:
// keys j ≥ t, queries i < t; an explicit mask: key `position` and the queries that may not attend
// it. The poisons: ±1e30 in K and 1e30 in V (finite, and their scores do not overflow: a finite
// additive mask such as −1e4 lets them through), then NaN and ±3e38 (whose scores overflow to ±inf,
// and inf − inf = NaN in a kernel that adds −inf to a score). A kernel that declares masked-finite
// gets the finite poisons only.
OpOutcome check_masked_independence(Kernel& f, const OpCase& c, const Tolerance&, bool) {
  const AttentionOp& x = c.op;
  const AttentionMask m = x.visibility();
  std::vector<bool> poisoned(static_cast<std::size_t>(x.n_k), false);
  if (x.causal) {
    for (int j = std::clamp(c.transform.position, 1, x.n_k); j < x.n_k; ++j) poisoned[static_cast<std::size_t>(j)] = true;
  } else {
    poisoned[static_cast<std::size_t>(std::clamp(c.transform.position, 0, x.n_k - 1))] = true;
  }
  if (!x.mask.empty()) {  // with both a causal flag and a mask, also the keys no query may attend
    for (int j = 0; j < x.n_k; ++j) {
      bool nobody = true;
      for (int i = 0; i < x.n_q && nobody; ++i) nobody = !m.visible(i, j);
      if (nobody) poisoned[static_cast<std::size_t>(j)] = true;
    }
  }
  const auto blind = [&](int i) {
    for (int j = 0; j < x.n_k; ++j)
      if (poisoned[static_cast<std::size_t>(j)] && m.visible(i, j)) return false;
    return true;
  };
  const std::vector<std::size_t> rows = rows_where(x, x.n_q, x.d_v, blind);
  if (rows.empty()) return {};  // every query sees a poisoned key: nothing to compare
  const CallResult clean = f.forward(x);
  if (!clean.ok()) return call_failed(clean, x);
  const bool finite_only = f.capabilities().masked_finite;
  for (const Poison& poison : kPoisons) {
    if (finite_only && !poison.finite) continue;
    AttentionOp x2 = x;
    for (int bh = 0; bh < x.batch * x.heads; ++bh)
      for (int j = 0; j < x.n_k; ++j) {
        if (!poisoned[static_cast<std::size_t>(j)]) continue;
        if (poison.in_k)
          std::fill_n(x2.k.begin() + (static_cast<std::ptrdiff_t>(bh) * x.n_k + j) * x.d_head, x.d_head, poison.value);
        if (poison.in_v) std::fill_n(x2.v.begin() + (static_cast<std::ptrdiff_t>(bh) * x.n_k + j) * x.d_v, x.d_v, poison.value);
      }
    x2.round_to_dtype();  // in f16 the poison saturates at ±65504: still a huge value, now one of the dtype
    const CallResult dirty = f.forward(x2);
    if (!dirty.ok()) return call_failed(dirty, x2);
    for (std::size_t i : rows)
      if (!(dirty.out[i] == clean.out[i])) {
        OpOutcome o;
        o.passed = false;
        o.error = std::isfinite(dirty.out[i]) ? std::abs(static_cast<double>(dirty.out[i]) - clean.out[i])
                                              : std::numeric_limits<double>::infinity();
        o.element = element_at(x, x.n_q, x.d_v, i, "O");
        o.message = std::string("masked keys poisoned with ") + poison.what + ": the output of a query that cannot see them " +
                    "changed from " + text::shortest(clean.out[i]) + " to " + text::shortest(dirty.out[i]) +
                    " (nothing may flow from a masked key; declare masked-finite if the kernel assumes finite masked values)";
        return o;
      }
  }
  return {};
}

}  // namespace checks
}  // namespace symbreak::validate
