#include "symbreak/validate/properties.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <bit>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "symbreak/rng.hpp"
#include "symbreak/text.hpp"
#include "symbreak/validate/reference.hpp"

namespace symbreak::validate {


std::string Element::text() const {
  if (batch < 0) return "-";
  return (tensor.empty() ? "" : tensor + " ") + "batch " + std::to_string(batch) + ", head " + std::to_string(head) + ", row " +
         std::to_string(row) + ", column " + std::to_string(col);
}

// ---- Transformations ---------------------------------------------------------------------------

namespace {

// Copies rows of a [B][H][n][d] array, row r of the result taken from row source(b, h, r).
template <class Source>
std::vector<float> remap(const std::vector<float>& x, int batch, int heads, int n, int d, Source source) {
  std::vector<float> out(x.size());
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < n; ++r) {
        const auto [sb, sh, sr] = source(b, h, r);
        std::copy_n(x.begin() + ((static_cast<std::ptrdiff_t>(sb) * heads + sh) * n + sr) * d, d,
                    out.begin() + ((static_cast<std::ptrdiff_t>(b) * heads + h) * n + r) * d);
      }
  return out;
}

}  // namespace

AttentionOp permute_keys(const AttentionOp& op, const std::vector<int>& perm) {
  AttentionOp out = op;
  const auto src = [&](int b, int h, int r) { return std::tuple{b, h, perm[r]}; };
  out.k = remap(op.k, op.batch, op.heads, op.n_k, op.d_head, src);
  out.v = remap(op.v, op.batch, op.heads, op.n_k, op.d_v, src);
  if (!op.mask.empty())
    for (int i = 0; i < op.n_q; ++i)
      for (int j = 0; j < op.n_k; ++j)
        out.mask[static_cast<std::size_t>(i) * op.n_k + j] = op.mask[static_cast<std::size_t>(i) * op.n_k + perm[j]];
  return out;
}

AttentionOp permute_queries(const AttentionOp& op, const std::vector<int>& perm) {
  AttentionOp out = op;
  const auto src = [&](int b, int h, int r) { return std::tuple{b, h, perm[r]}; };
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, src);
  if (op.backward()) out.d_out = remap(op.d_out, op.batch, op.heads, op.n_q, op.d_v, src);
  if (!op.mask.empty())
    for (int i = 0; i < op.n_q; ++i)
      std::copy_n(op.mask.begin() + static_cast<std::ptrdiff_t>(perm[i]) * op.n_k, op.n_k,
                  out.mask.begin() + static_cast<std::ptrdiff_t>(i) * op.n_k);
  return out;
}

AttentionOp permute_heads(const AttentionOp& op, const std::vector<int>& perm) {
  AttentionOp out = op;
  const auto src = [&](int b, int h, int r) { return std::tuple{b, perm[h], r}; };
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, src);
  out.k = remap(op.k, op.batch, op.heads, op.n_k, op.d_head, src);
  out.v = remap(op.v, op.batch, op.heads, op.n_k, op.d_v, src);
  return out;
}

AttentionOp permute_batch(const AttentionOp& op, const std::vector<int>& perm) {
  AttentionOp out = op;
  const auto src = [&](int b, int h, int r) { return std::tuple{perm[b], h, r}; };
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, src);
  out.k = remap(op.k, op.batch, op.heads, op.n_k, op.d_head, src);
  out.v = remap(op.v, op.batch, op.heads, op.n_k, op.d_v, src);
  return out;
}

AttentionOp permute_grouped_heads(const AttentionOp& op, const std::vector<int>& perm) {
  const int kvh = op.kv_heads(), group = op.heads / kvh;
  if (perm.size() != static_cast<std::size_t>(op.heads))
    throw std::logic_error("permute_grouped_heads: a permutation of " + std::to_string(perm.size()) + " heads for " +
                           std::to_string(op.heads));
  std::vector<int> kv_perm(static_cast<std::size_t>(kvh));
  for (int h = 0; h < op.heads; ++h) {
    const int g = h / group, from = perm[static_cast<std::size_t>(h)];
    if (h % group == 0) kv_perm[static_cast<std::size_t>(g)] = from / group;
    if (from / group != kv_perm[static_cast<std::size_t>(g)])
      throw std::logic_error("permute_grouped_heads: head " + std::to_string(from) + " leaves its group");
  }
  AttentionOp out = op;
  const auto q_src = [&](int b, int h, int r) { return std::tuple{b, perm[static_cast<std::size_t>(h)], r}; };
  const auto kv_src = [&](int b, int g, int r) { return std::tuple{b, kv_perm[static_cast<std::size_t>(g)], r}; };
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, q_src);
  if (op.backward()) out.d_out = remap(op.d_out, op.batch, op.heads, op.n_q, op.d_v, q_src);
  out.k = remap(op.k, op.batch, kvh, op.n_k, op.d_head, kv_src);
  out.v = remap(op.v, op.batch, kvh, op.n_k, op.d_v, kv_src);
  if (op.mask_per_head) {  // [batch][heads][n_q][n_k]: each head's mask travels with its head
    const std::size_t per_head = static_cast<std::size_t>(op.n_q) * op.n_k;
    for (int b = 0; b < op.batch; ++b)
      for (int h = 0; h < op.heads; ++h)
        std::copy_n(op.mask.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(b) * op.heads + perm[static_cast<std::size_t>(h)]) * per_head),
                    per_head, out.mask.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(b) * op.heads + h) * per_head));
  }
  return out;
}

// ---- Checking one case -------------------------------------------------------------------------

namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Element i of a [batch][heads][rows][cols] tensor.
Element element_at(const AttentionOp& op, int rows, int cols, std::size_t index, std::string tensor) {
  Element e;
  e.tensor = std::move(tensor);
  e.col = static_cast<int>(index % cols);
  index /= cols;
  e.row = static_cast<int>(index % rows);
  index /= rows;
  const int heads = e.tensor == "dK" || e.tensor == "dV" ? op.kv_heads() : op.heads;  // K-shaped: KV heads
  e.head = static_cast<int>(index % heads);
  e.batch = static_cast<int>(index / heads);
  return e;
}

// The shapes of the tensors a property compares: O (n_q × d_v) or dQ (n_q × d_head), dK (n_k × d_head), dV (n_k × d_v).
struct TensorShape {
  const char* name;
  int rows, cols;
};
TensorShape shape_of(const AttentionOp& op, int t) {
  switch (t) {
    case 0: return {"dQ", op.n_q, op.d_head};
    case 1: return {"dK", op.n_k, op.d_head};
    case 2: return {"dV", op.n_k, op.d_v};
    default: return {"O", op.n_q, op.d_v};
  }
}
constexpr int kOutput = 3;
const std::vector<float>& gradient(const CallResult& r, int t) { return t == 0 ? r.dq : t == 1 ? r.dk : r.dv; }

// A call that did not produce a result. A kernel that refuses a case (a nonzero return) inside the
// region it declared usually forgot a word of its declaration: the message says what the case used
// beyond the most common region and which words would exclude it.
OpOutcome call_failed(const CallResult& r, const AttentionOp& op) {
  OpOutcome o;
  o.passed = false;
  o.message = "the kernel " + std::string(to_string(r.status)) + (r.message.empty() ? "" : ": " + r.message);
  if (r.status == CallResult::Status::returned_error) {
    const RegionHint hint = beyond_common_region(op);
    o.message += " on " + op.shape_string();
    if (!hint.used.empty())
      o.message += "; this case used " + hint.used + ": if the kernel does not support these, declare " + hint.words;
  }
  return o;
}

// The bound of element i: fixed + atol_unit · max(floor, terms(i)). `fixed` is c·err_ref; the atol is
// a few ulps of the larger of the output's scale and the size of the terms that element sums, so a
// result that cancels to 0 from large terms is allowed the rounding of those terms.
struct ElementBound {
  double fixed = 0, atol_unit = 0, floor = 1;
  std::function<double(std::size_t)> terms;  // empty: the floor alone
  double atol(std::size_t i) const { return atol_unit * std::max(floor, terms ? terms(i) : 0.0); }
  double at(std::size_t i) const { return fixed + atol(i); }
};

ElementBound bound_against_reference(const Tolerance& t, double err, double scale, const std::vector<double>& terms, double unit) {
  return {t.c * err, t.atol_ulps * unit, scale, [&terms](std::size_t i) { return terms[i]; }};
}

// Compares `actual` with `expected` over the selected indices of tensor t, each element against its
// bound; reports the element with the largest error relative to its bound.
OpOutcome compare(const AttentionOp& op, int t, const std::vector<float>& actual, const std::vector<double>& expected,
                  const std::vector<std::size_t>& indices, const ElementBound& bound, const std::string& what) {
  const TensorShape s = shape_of(op, t);
  OpOutcome o;
  double worst_ratio = -1;
  std::size_t worst = indices.empty() ? 0 : indices.front();
  for (std::size_t i : indices) {
    const double a = actual[i];
    if (std::isnan(expected[i])) {  // a row with no visible key under the declared empty-rows=nan contract
      if (std::isnan(a)) continue;
      o.passed = false;
      o.error = std::numeric_limits<double>::infinity();
      o.element = element_at(op, s.rows, s.cols, i, s.name);
      o.message = what + ": " + s.name + " " + std::to_string(a) +
                  " in a row with no visible key, where the declared contract empty-rows=nan wants NaN";
      return o;
    }
    if (!std::isfinite(a) && std::isfinite(expected[i])) {
      o.passed = false;
      o.error = std::numeric_limits<double>::infinity();
      o.bound = bound.at(i);
      o.atol = bound.atol(i);
      o.element = element_at(op, s.rows, s.cols, i, s.name);
      o.message =
          what + ": non-finite " + s.name + " " + std::to_string(a) + " where the reference is " + std::to_string(expected[i]);
      return o;
    }
    const double d = std::abs(a - expected[i]), b = bound.at(i);
    const double ratio = b > 0 ? d / b : (d > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
      o.error = d;
    }
  }
  if (indices.empty()) return o;
  o.bound = bound.at(worst);
  o.atol = bound.atol(worst);
  o.element = element_at(op, s.rows, s.cols, worst, s.name);
  if (o.error > o.bound) {
    o.passed = false;
    const double terms = bound.terms ? bound.terms(worst) : 0.0;
    o.message = fmt::format("{}: |Δ{}| = {:.3e} > bound {:.3e} (c·err_ref {:.3e} + atol {:.3e}; terms of size {:.3e})", what,
                            s.name, o.error, o.bound, bound.fixed, o.atol, terms);
  }
  return o;
}

// The worse of two outcomes: a failure, else the one closer to its bound.
OpOutcome worse(const OpOutcome& a, const OpOutcome& b) {
  if (!a.passed) return a;
  if (!b.passed) return b;
  return b.error / std::max(b.bound, 1e-300) > a.error / std::max(a.bound, 1e-300) ? b : a;
}

std::vector<std::size_t> all_indices(std::size_t n) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  return idx;
}

std::size_t flat(int heads, int rows, int cols, int b, int h, int r, int c) {
  return ((static_cast<std::size_t>(b) * heads + h) * rows + r) * cols + c;
}

// Indices of the rows `keep(row)` of a [batch][heads][rows][cols] tensor.
std::vector<std::size_t> rows_where(const AttentionOp& op, int rows, int cols, const std::function<bool(int)>& keep) {
  std::vector<std::size_t> idx;
  for (int b = 0; b < op.batch; ++b)
    for (int h = 0; h < op.heads; ++h)
      for (int r = 0; r < rows; ++r)
        if (keep(r))
          for (int c = 0; c < cols; ++c) idx.push_back(flat(op.heads, rows, cols, b, h, r, c));
  return idx;
}

// New rows (normal, standard deviation 3) for the rows `changed(r)` of [batch][heads][rows][cols] data.
// The values are rounded to `dtype` (every input a kernel sees is a value of its dtype).
void redraw_rows(std::vector<float>& x, int batch_heads, int rows, int cols, Rng& rng, const std::function<bool(int)>& changed,
                 Dtype dtype) {
  for (int bh = 0; bh < batch_heads; ++bh)
    for (int r = 0; r < rows; ++r)
      if (changed(r))
        for (int c = 0; c < cols; ++c)
          x[(static_cast<std::size_t>(bh) * rows + r) * cols + c] = round_to(dtype, static_cast<float>(rng.normal() * 3));
}

AttentionOp replace_key_rows(const AttentionOp& op, std::uint64_t seed, const std::function<bool(int)>& changed) {
  AttentionOp out = op;
  Rng rng(seed);
  redraw_rows(out.k, op.batch * op.heads, op.n_k, op.d_head, rng, changed, op.dtype);
  redraw_rows(out.v, op.batch * op.heads, op.n_k, op.d_v, rng, changed, op.dtype);
  return out;
}

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

}  // namespace

OpOutcome check_agreement(Kernel& a, Kernel& b, const OpCase& c, const Tolerance& t, bool backward) {
  const AttentionOp& x = c.op;
  if (!backward) {
    const Reference ref(x);
    const CallResult ra = a.forward(x);
    if (!ra.ok()) return call_failed_named(ra, x, "A " + a.name());
    const CallResult rb = b.forward(x);
    if (!rb.ok()) return call_failed_named(rb, x, "B " + b.name());
    OpOutcome o = disagreement(x, kOutput, ra.out, rb.out, ref.exact, bound_against_reference(t, ref.err, ref.scale, ref.terms, ref.unit),
                               a.name(), b.name());
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

namespace {

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

// Element i of a [batch][heads][rows][cols] tensor after its heads were permuted by `perm`
// (perm[h] = the old head now at h): the index of the same element before.
std::size_t index_before_head_permutation(std::size_t i, const std::vector<int>& perm, std::size_t per_head) {
  const std::size_t heads = perm.size(), h = (i / per_head) % heads, b = i / (per_head * heads);
  return (b * heads + static_cast<std::size_t>(perm[h])) * per_head + i % per_head;
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
      o.message = "run " + std::to_string(run) + " of the same input differs from run 1 in " + s.name + " (bits " + std::to_string(std::bit_cast<std::uint32_t>(a[i])) + " vs " + std::to_string(std::bit_cast<std::uint32_t>(b[i])) +
                  ")" + (strict ? "; the kernel declares itself deterministic" : "");
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
struct Poison {
  const char* what;
  bool in_k, in_v;
  float value;
  bool finite;  // also run when the kernel declares masked-finite
};
const Poison kPoisons[] = {{"+1e30 in K", true, false, 1e30f, true},
                           {"-1e30 in K", true, false, -1e30f, true},
                           {"1e30 in V", false, true, 1e30f, true},
                           {"NaN in K and V", true, true, std::numeric_limits<float>::quiet_NaN(), false},
                           {"NaN in V", false, true, std::numeric_limits<float>::quiet_NaN(), false},
                           {"+3e38 in K (scores overflow)", true, false, 3e38f, false},
                           {"-3e38 in K (scores overflow)", true, false, -3e38f, false}};

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

// ---- backward ------------------------------------------------------------------------------------


// BWD-REFERENCE, BWD-ROBUST: each of dQ, dK, dV within c·err_ref + atol of the exact gradient.
OpOutcome check_bwd_reference(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const GradientReference ref(c.op);
  const CallResult r = f.backward(c.op, ref.o);
  if (!r.ok()) return call_failed(r, c.op);
  OpOutcome worst;
  for (int g = 0; g < 3; ++g) {
    OpOutcome o = compare(c.op, g, gradient(r, g), ref.exact[g], all_indices(ref.exact[g].size()),
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
  return check_bwd_invariance(f, x, permute_grouped_heads(x, perm), t, idx,
                              "KV heads and the query heads within their groups permuted",
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
      OpOutcome o = compare(x, g, gradient(r, g), zero, rows_where(x, s.rows, s.cols, [&](int r) { return r == j; }),
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
  return check_bwd_invariance(f, x, x2, t, idx, "every key shifted by one vector (a softmax row's gradient must sum to 0)",
                              {}, /*follow_exact=*/true);
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

using M = MaskMode;
const std::vector<M> kAll = {M::none, M::causal, M::explicit_mask, M::causal_and_explicit};

}  // namespace

const std::vector<OpProperty>& op_catalogue() {
  static const std::vector<OpProperty> properties = {
      {"REFERENCE", "max|O − E| ≤ c·err_ref + atol against the exact reference E", Pass::forward, kAll, "", false, false, false,
       check_reference},
      {"KV-PERM",
       "permuting the rows of K and V (and the mask's columns) together leaves O unchanged",
       Pass::forward,
       {M::none, M::explicit_mask},
       "a mode without the causal mask (the causal mask ties keys to positions)",
       false,
       false,
       false,
       check_kv_perm},
      {"Q-PERM",
       "permuting the rows of Q (and of the mask) permutes the rows of O",
       Pass::forward,
       {M::none, M::explicit_mask},
       "a mode without the causal mask (the causal mask ties queries to positions)",
       false,
       false,
       false,
       check_q_perm},
      {"CAUSAL",
       "causal: changing K, V rows j ≥ t leaves the outputs of queries i < t unchanged",
       Pass::forward,
       {M::causal, M::causal_and_explicit},
       "the causal mask",
       false,
       true,
       false,
       check_causal},
      {"MASK",
       "explicit mask: changing a K, V row leaves the outputs of the queries that may not attend it unchanged",
       Pass::forward,
       {M::explicit_mask, M::causal_and_explicit},
       "an explicit mask",
       false,
       false,
       false,
       check_mask},
      {"CONVEX", "O lies in the hull of the visible V rows; V + 1·δᵀ shifts O by δ", Pass::forward, kAll, "", false, false, false,
       check_convex},
      {"HEADS", "permuting heads permutes the outputs", Pass::forward, kAll, "", false, false, false, check_heads},
      {"BATCH", "permuting batch items permutes the outputs", Pass::forward, kAll, "", false, false, false, check_batch},
      {"ROBUST",
       "REFERENCE on the edge cases in every supported mask mode first (logits ±1e6, all scores below −10000, tiny values, "
       "n_k = 1, odd and long sizes, extreme scales), then on generated extreme cases",
       Pass::forward, kAll, "", true, false, false, check_reference},
      {"DETERMINISM",
       "the same input run 3 times gives the same bits (a failure when the kernel declares deterministic, else a warning)",
       Pass::forward, kAll, "", false, false, false, check_determinism},
      {"MASKED-INDEPENDENCE",
       "keys a query cannot see, poisoned with ±1e30, ±3e38 or NaN in K or V, leave its output exactly unchanged",
       Pass::forward,
       {M::causal, M::explicit_mask, M::causal_and_explicit},
       "a causal or explicit mask",
       false,
       false,
       true,
       check_masked_independence},
      {"BWD-REFERENCE", "each of dQ, dK, dV within c·err_ref + atol of the exact gradient", Pass::backward, kAll, "", false,
       false, false, check_bwd_reference},
      {"BWD-CAUSAL",
       "causal: dK_j and dV_j get nothing from the queries i < j (changing those queries leaves them unchanged)",
       Pass::backward,
       {M::causal, M::causal_and_explicit},
       "the causal mask",
       false,
       true,
       false,
       check_bwd_causal},
      {"BWD-MASK",
       "explicit mask: a key's dK, dV get nothing from the queries that may not attend it; a key no query may attend "
       "gets zero gradient",
       Pass::backward,
       {M::explicit_mask, M::causal_and_explicit},
       "an explicit mask",
       false,
       false,
       true,
       check_bwd_mask},
      {"BWD-ROWSUM", "each softmax row's gradient sums to zero: shifting every key by one vector leaves dQ, dK, dV unchanged",
       Pass::backward, kAll, "", false, false, false, check_bwd_rowsum},
      {"BWD-ROBUST", "BWD-REFERENCE on the edge cases in every supported mask mode first, then on generated extreme cases",
       Pass::backward, kAll, "", true, false, false, check_bwd_reference},
      {"BWD-DETERMINISM",
       "the same backward input run 3 times gives the same dQ, dK, dV bits (a failure when the kernel declares deterministic)",
       Pass::backward, kAll, "", false, false, false, check_bwd_determinism},
      // ---- Version 2: each about one feature, run when the kernel declares it; the edge cases first.
      {"ALIGNMENT",
       "causal (and window) with n_q <, = and > n_k in the declared alignment, a decode step (n_q = 1, n_k = 4096), "
       "against the exact reference",
       Pass::forward, {M::causal, M::causal_and_explicit}, "causal=top-left or causal=bottom-right", true, false, false,
       check_reference, "align"},
      {"GQA-MAPPING",
       "grouped-query heads (query head h reads KV head h / (heads / heads_kv)), MQA included, distinct K and V per KV "
       "head, against the exact reference",
       Pass::forward, kAll, "gqa", true, false, false, check_reference, "gqa"},
      {"GQA-PERM",
       "shuffling the KV heads (each carrying its group of query heads) and the query heads within each group shuffles "
       "the output heads the same way",
       Pass::forward, kAll, "gqa", true, false, false, check_gqa_perm, "gqa-perm"},
      {"SOFTCAP",
       "logit soft-capping c·tanh(s/c) before the mask: c from 0.5 to 50, logits far beyond the cap (saturated) and "
       "within it, sizes 1, 2, 5, 15-17, 33, a decode row against 1024 keys, masked keys, against the exact reference",
       Pass::forward, kAll, "softcap", true, false, false, check_reference, "softcap"},
      {"BIAS",
       "an additive float bias per head after the softcap: N(0, 1), ±1e4, −inf entries (hidden keys), rows of −FLT_MAX, "
       "−FLT_MAX on the visible keys beside masked ones with tied scores, sizes 1, 2, 5, 15-17, 33, a decode row, "
       "against the exact reference",
       Pass::forward, kAll, "bias", true, false, false, check_reference, "bias"},
      {"ALIBI",
       "ALiBi: score(i, j) − slope_h·|i + offset − j| with the paper's slopes for 1-8 heads and steep ones, causal and "
       "not, n_q ≠ n_k in the declared alignment, a decode row, grouped heads, against the exact reference",
       Pass::forward, kAll, "alibi", true, false, false, check_reference, "alibi"},
      {"WINDOW-BOUNDARY",
       "sliding windows: left = n_k − 1 with causal, left = right = 0, window ∩ causal, widths around the tile size, "
       "against the exact reference",
       Pass::forward, kAll, "window", true, false, false, check_reference, "window"},
      {"PADDING",
       "per-batch key lengths (1, n_k, tile ± 1) against the exact reference; keys past a length poisoned with NaN or "
       "±3e38 leave the output bit-identical",
       Pass::forward, kAll, "padding", true, false, false, check_padding, "padding"},
      {"EMPTY-ROWS",
       "query rows with no visible key (all-False mask rows, bottom-right rows above the keys, windows past the length) "
       "are zero; fully masked tiles inside live rows change nothing",
       Pass::forward, kAll, "empty-rows=zero", true, false, false, check_reference, "empty-rows"},
      {"BWD-ALIGNMENT", "BWD-REFERENCE on ALIGNMENT's cases", Pass::backward, {M::causal, M::causal_and_explicit},
       "causal=top-left or causal=bottom-right",
       true, false, false, check_bwd_reference, "align"},
      {"BWD-GQA-MAPPING", "BWD-REFERENCE on GQA-MAPPING's cases: dK and dV sum over the query heads of a group",
       Pass::backward, kAll, "gqa", true, false, false, check_bwd_reference, "gqa"},
      {"BWD-GQA-PERM", "GQA-PERM's shuffle permutes dQ like Q and dK, dV like K, V", Pass::backward, kAll, "gqa", true,
       false, false, check_bwd_gqa_perm, "gqa-perm"},
      {"BWD-SOFTCAP", "BWD-REFERENCE on SOFTCAP's cases: the chain rule through c·tanh(s/c) multiplies dS by 1 − tanh²",
       Pass::backward, kAll, "softcap", true, false, false, check_bwd_reference, "softcap"},
      {"BWD-BIAS", "BWD-REFERENCE on BIAS' cases: the bias shapes P, and dS is the softmax's alone", Pass::backward, kAll,
       "bias", true, false, false, check_bwd_reference, "bias"},
      {"BWD-ALIBI", "BWD-REFERENCE on ALIBI's cases", Pass::backward, kAll, "alibi", true, false, false, check_bwd_reference,
       "alibi"},
      {"BWD-WINDOW-BOUNDARY", "BWD-REFERENCE on WINDOW-BOUNDARY's cases", Pass::backward, kAll, "window", true, false, false,
       check_bwd_reference, "window"},
      {"BWD-PADDING", "BWD-REFERENCE on PADDING's cases: padded keys get zero gradients", Pass::backward, kAll, "padding",
       true, false, false, check_bwd_reference, "padding"},
      {"BWD-EMPTY-ROWS", "BWD-REFERENCE on EMPTY-ROWS' cases: empty rows get zero dQ and give nothing to dK, dV",
       Pass::backward, kAll, "empty-rows=zero", true, false, false, check_bwd_reference, "empty-rows"},
  };
  return properties;
}

const OpProperty& find_op_property(std::string_view name) {
  std::string names;
  for (const OpProperty& p : op_catalogue()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  }
  throw std::invalid_argument("unknown property \"" + std::string(name) + "\" (allowed: " + names + ")");
}

}  // namespace symbreak::validate
