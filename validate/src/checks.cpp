// The helpers every op-level check uses: elements, bounds, comparison, rows and redrawn keys.
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

// ---- Checking one case: the helpers every check uses ---------------------------------------------

TensorShape shape_of(const AttentionOp& op, int t) {
  switch (t) {
    case 0: return {"dQ", op.n_q, op.d_head};
    case 1: return {"dK", op.n_k, op.d_head};
    case 2: return {"dV", op.n_k, op.d_v};
    default: return {"O", op.n_q, op.d_v};
  }
}

const std::vector<float>& gradient(const CallResult& r, int t) { return t == 0 ? r.dq : t == 1 ? r.dk : r.dv; }

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

ElementBound bound_against_reference(const Tolerance& t, double err, double scale, const std::vector<double>& terms,
                                     double unit) {
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

// Element i of a [batch][heads][rows][cols] tensor after its heads were permuted by `perm`
// (perm[h] = the old head now at h): the index of the same element before.
std::size_t index_before_head_permutation(std::size_t i, const std::vector<int>& perm, std::size_t per_head) {
  const std::size_t heads = perm.size(), h = (i / per_head) % heads, b = i / (per_head * heads);
  return (b * heads + static_cast<std::size_t>(perm[h])) * per_head + i % per_head;
}

}  // namespace symbreak::validate::checks
