#include "symbreak/validate/properties.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "symbreak/rng.hpp"
#include "symbreak/validate/reference.hpp"

namespace symbreak::validate {

constexpr float kU32 = 0x1p-24f;

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
  e.head = static_cast<int>(index % op.heads);
  e.batch = static_cast<int>(index / op.heads);
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

OpOutcome call_failed(const CallResult& r) {
  OpOutcome o;
  o.passed = false;
  o.message = "the kernel " + std::string(to_string(r.status)) + (r.message.empty() ? "" : ": " + r.message);
  return o;
}

// Compares `actual` with `expected` over the selected indices of tensor t against `bound`.
OpOutcome compare(const AttentionOp& op, int t, const std::vector<float>& actual, const std::vector<double>& expected,
                  const std::vector<std::size_t>& indices, double bound, const std::string& what) {
  const TensorShape s = shape_of(op, t);
  OpOutcome o;
  o.bound = bound;
  double worst = -1;
  for (std::size_t i : indices) {
    const double a = actual[i];
    if (!std::isfinite(a) && std::isfinite(expected[i])) {
      o.passed = false;
      o.error = std::numeric_limits<double>::infinity();
      o.element = element_at(op, s.rows, s.cols, i, s.name);
      o.message =
          what + ": non-finite " + s.name + " " + std::to_string(a) + " where the reference is " + std::to_string(expected[i]);
      return o;
    }
    const double d = std::abs(a - expected[i]);
    if (d > worst) {
      worst = d;
      o.element = element_at(op, s.rows, s.cols, i, s.name);
    }
  }
  o.error = std::max(worst, 0.0);
  if (o.error > bound) {
    o.passed = false;
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s: |Δ%s| = %.3e > bound %.3e", what.c_str(), s.name, o.error, bound);
    o.message = buf;
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

double atol_of(const Tolerance& t, double scale) { return t.atol_ulps * kU32 * scale; }

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
void redraw_rows(std::vector<float>& x, int batch_heads, int rows, int cols, Rng& rng, const std::function<bool(int)>& changed) {
  for (int bh = 0; bh < batch_heads; ++bh)
    for (int r = 0; r < rows; ++r)
      if (changed(r))
        for (int c = 0; c < cols; ++c)
          x[(static_cast<std::size_t>(bh) * rows + r) * cols + c] = static_cast<float>(rng.normal() * 3);
}

AttentionOp replace_key_rows(const AttentionOp& op, std::uint64_t seed, const std::function<bool(int)>& changed) {
  AttentionOp out = op;
  Rng rng(seed);
  redraw_rows(out.k, op.batch * op.heads, op.n_k, op.d_head, rng, changed);
  redraw_rows(out.v, op.batch * op.heads, op.n_k, op.d_v, rng, changed);
  return out;
}

// ---- forward -------------------------------------------------------------------------------------

// REFERENCE, ROBUST: max|O − E| ≤ c·err_ref + atol.
OpOutcome check_reference(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const Reference ref(c.op);
  const CallResult r = f.forward(c.op);
  if (!r.ok()) return call_failed(r);
  const double atol = atol_of(t, ref.scale);
  OpOutcome o =
      compare(c.op, kOutput, r.out, ref.exact, all_indices(c.op.out_size()), t.c * ref.err + atol, "output vs exact reference");
  o.ref_err = ref.err;
  o.atol = atol;
  return o;
}

// An invariance O(x') = T(O(x)): `expected_index(i)` is the index of O(x) that output i of O(x') must equal.
template <class Map>
OpOutcome check_invariance(Kernel& f, const AttentionOp& x, const AttentionOp& x2, const Tolerance& t, Map expected_index,
                           const std::vector<std::size_t>& indices, const std::string& what) {
  const Reference r1(x), r2(x2);
  const CallResult o1 = f.forward(x);
  if (!o1.ok()) return call_failed(o1);
  const CallResult o2 = f.forward(x2);
  if (!o2.ok()) return call_failed(o2);
  std::vector<double> expected(o2.out.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = o1.out[expected_index(i)];
  const double atol = atol_of(t, r1.scale);
  OpOutcome o = compare(x2, kOutput, o2.out, expected, indices, t.c * (r1.err + r2.err) + 2 * atol, what);
  o.ref_err = r1.err + r2.err;
  o.atol = atol;
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
  if (!r.ok()) return call_failed(r);
  const double atol = atol_of(t, ref.scale), slack = t.c * ref.err + atol;
  const AttentionMask m = x.visibility();
  OpOutcome o;
  o.bound = slack;
  o.ref_err = ref.err;
  o.atol = atol;
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
          const double out = r.out[flat(x.heads, x.n_q, x.d_v, b, h, i, col)];
          const double outside =
              !std::isfinite(out) ? std::numeric_limits<double>::infinity() : std::max({lo - out, out - hi, 0.0});
          if (outside > o.error || (!std::isfinite(outside) && o.passed)) {
            o.error = outside;
            o.element = {"O", b, h, i, col};
          }
          if (outside > slack && o.passed) {
            o.passed = false;
            char buf[200];
            std::snprintf(buf, sizeof buf, "output %.6g lies %.3e outside the visible values' range [%.6g, %.6g] (slack %.3e)",
                          out, outside, lo, hi, slack);
            o.message = buf;
          }
        }
  if (!o.passed) return o;
  // The shift: V + 1·δᵀ.
  AttentionOp shifted = x;
  Rng rng(c.transform.seed);
  std::vector<float> delta(x.d_v);
  for (float& d : delta) d = static_cast<float>(rng.normal());
  for (std::size_t i = 0; i < shifted.v.size(); ++i) shifted.v[i] += delta[i % x.d_v];
  const Reference r2(shifted);
  const CallResult o2 = f.forward(shifted);
  if (!o2.ok()) return call_failed(o2);
  std::vector<double> expected(o2.out.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<double>(r.out[i]) + delta[i % x.d_v];
  OpOutcome shift = compare(x, kOutput, o2.out, expected, all_indices(x.out_size()), t.c * (ref.err + r2.err) + 2 * atol,
                            "values shifted by δ");
  shift.ref_err = ref.err + r2.err;
  shift.atol = atol;
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

// DETERMINISM: the same input twice gives the same bits.
OpOutcome check_determinism(Kernel& f, const OpCase& c, const Tolerance&, bool strict) {
  const CallResult a = f.forward(c.op);
  if (!a.ok()) return call_failed(a);
  const CallResult b = f.forward(c.op);
  if (!b.ok()) return call_failed(b);
  OpOutcome o;
  for (std::size_t i = 0; i < a.out.size(); ++i)
    if (!same_bits(a.out[i], b.out[i])) {
      o.passed = !strict;
      o.warning = true;
      o.error = std::abs(static_cast<double>(a.out[i]) - b.out[i]);
      o.element = element_at(c.op, c.op.n_q, c.op.d_v, i, "O");
      o.message = "two runs on the same input differ";
      break;
    }
  return o;
}

// ---- backward ------------------------------------------------------------------------------------

const std::vector<float>& gradient(const CallResult& r, int t) { return t == 0 ? r.dq : t == 1 ? r.dk : r.dv; }

// BWD-REFERENCE, BWD-ROBUST: each of dQ, dK, dV within c·err_ref + atol of the exact gradient.
OpOutcome check_bwd_reference(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const GradientReference ref(c.op);
  const CallResult r = f.backward(c.op, ref.o);
  if (!r.ok()) return call_failed(r);
  OpOutcome worst;
  for (int g = 0; g < 3; ++g) {
    const double atol = atol_of(t, ref.scale[g]);
    OpOutcome o = compare(c.op, g, gradient(r, g), ref.exact[g], all_indices(ref.exact[g].size()), t.c * ref.err[g] + atol,
                          "gradient vs exact reference");
    o.ref_err = ref.err[g];
    o.atol = atol;
    worst = g == 0 ? o : worse(worst, o);
  }
  return worst;
}

// A backward invariance: the gradients of x2, at `indices[t]` of tensor t, equal those of x.
OpOutcome check_bwd_invariance(Kernel& f, const AttentionOp& x, const AttentionOp& x2, const Tolerance& t,
                               const std::vector<std::size_t> (&indices)[3], const std::string& what) {
  const GradientReference r1(x), r2(x2);
  const CallResult g1 = f.backward(x, r1.o);
  if (!g1.ok()) return call_failed(g1);
  const CallResult g2 = f.backward(x2, r2.o);
  if (!g2.ok()) return call_failed(g2);
  OpOutcome worst;
  bool any = false;
  for (int g = 0; g < 3; ++g) {
    if (indices[g].empty()) continue;
    std::vector<double> expected(gradient(g1, g).begin(), gradient(g1, g).end());
    const double atol = atol_of(t, std::max(r1.scale[g], r2.scale[g]));
    OpOutcome o = compare(x2, g, gradient(g2, g), expected, indices[g], t.c * (r1.err[g] + r2.err[g]) + 2 * atol, what);
    o.ref_err = r1.err[g] + r2.err[g];
    o.atol = atol;
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
  redraw_rows(x2.q, x.batch * x.heads, x.n_q, x.d_head, rng, before);
  redraw_rows(x2.d_out, x.batch * x.heads, x.n_q, x.d_v, rng, before);
  const auto later_key = [&](int j) { return j >= first; };
  const std::vector<std::size_t> idx[3] = {{}, rows_where(x, x.n_k, x.d_head, later_key), rows_where(x, x.n_k, x.d_v, later_key)};
  return check_bwd_invariance(f, x, x2, t, idx, "queries that cannot see a key changed; its dK, dV");
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
    if (!r.ok()) return call_failed(r);
    OpOutcome worst;
    for (int g = 1; g < 3; ++g) {
      const TensorShape s = shape_of(x, g);
      const std::vector<double> zero(gradient(r, g).size(), 0.0);
      OpOutcome o = compare(x, g, gradient(r, g), zero, rows_where(x, s.rows, s.cols, [&](int r) { return r == j; }),
                            atol_of(t, ref.scale[g]), "a key no query may attend has nonzero gradient");
      worst = g == 1 ? o : worse(worst, o);
    }
    return worst;
  }
  AttentionOp x2 = x;
  Rng rng(c.transform.seed);
  redraw_rows(x2.q, x.batch * x.heads, x.n_q, x.d_head, rng, blind);
  redraw_rows(x2.d_out, x.batch * x.heads, x.n_q, x.d_v, rng, blind);
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
  const std::vector<std::size_t> idx[3] = {all_indices(x.q_size()), all_indices(x.k_size()), all_indices(x.v_size())};
  return check_bwd_invariance(f, x, x2, t, idx, "every key shifted by one vector (a softmax row's gradient must sum to 0)");
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
      {"DETERMINISM", "the same input twice gives the same bits (a warning unless --strict-determinism)", Pass::forward, kAll, "",
       false, false, false, check_determinism},
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
