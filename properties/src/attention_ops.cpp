#include "symbreak/properties/attention_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "symbreak/rng.hpp"

namespace symbreak::props::ops {
namespace {

constexpr float kU32 = 0x1p-24f;
constexpr std::uint32_t kCanary = 0x7FA05A5Au;   // a signalling-NaN bit pattern no kernel computes
constexpr unsigned char kMaskGuard = 0xA5;

float canary_float() {
  float f;
  std::memcpy(&f, &kCanary, sizeof f);
  return f;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

std::string_view to_string(CallResult::Status status) {
  switch (status) {
    case CallResult::Status::ok: return "ok";
    case CallResult::Status::returned_error: return "returned an error";
    case CallResult::Status::crashed: return "crashed";
    case CallResult::Status::timed_out: return "timed out";
    case CallResult::Status::load_error: return "could not be loaded";
    case CallResult::Status::guard_violation: return "wrote outside its output";
    case CallResult::Status::bad_output: return "bad output";
  }
  return "?";
}

std::string Element::text() const {
  if (batch < 0) return "-";
  return "batch " + std::to_string(batch) + ", head " + std::to_string(head) + ", row " + std::to_string(row) +
         ", column " + std::to_string(col);
}

// ---- Guarded buffers ---------------------------------------------------------------------------

GuardedLayout::GuardedLayout(const AttentionOp& op) {
  std::size_t at = kGuard;
  q = at;
  at += op.q_size() + kGuard;
  k = at;
  at += op.k_size() + kGuard;
  v = at;
  at += op.v_size() + kGuard;
  mask = at;
  mask_floats = (op.mask.size() + 3) / 4;
  at += mask_floats + kGuard;
  out = at;
  at += op.out_size() + kGuard;
  total = at;
}

void fill_guarded(float* arena, const GuardedLayout& l, const AttentionOp& op) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), canary = canary_float();
  std::fill(arena, arena + l.total, nan);
  std::copy(op.q.begin(), op.q.end(), arena + l.q);
  std::copy(op.k.begin(), op.k.end(), arena + l.k);
  std::copy(op.v.begin(), op.v.end(), arena + l.v);
  auto* mask_bytes = reinterpret_cast<unsigned char*>(arena + l.mask);
  std::memset(reinterpret_cast<unsigned char*>(arena + l.mask - GuardedLayout::kGuard), kMaskGuard,
              (l.mask_floats + 2 * GuardedLayout::kGuard) * sizeof(float));
  if (!op.mask.empty()) std::memcpy(mask_bytes, op.mask.data(), op.mask.size());
  std::fill(arena + l.out - GuardedLayout::kGuard, arena + l.out + op.out_size() + GuardedLayout::kGuard, canary);
}

std::string check_guarded(const float* arena, const GuardedLayout& l, const AttentionOp& op) {
  const float canary = canary_float();
  const auto count_changed = [&](std::size_t from, std::size_t n) {
    int changed = 0;
    for (std::size_t i = 0; i < n; ++i) changed += !same_bits(arena[from + i], canary);
    return changed;
  };
  const int before = count_changed(l.out - GuardedLayout::kGuard, GuardedLayout::kGuard);
  const int after = count_changed(l.out + op.out_size(), GuardedLayout::kGuard);
  if (before || after)
    return "wrote " + std::to_string(before) + " floats before and " + std::to_string(after) + " floats after `out`";
  const auto input_changed = [&](const std::vector<float>& original, std::size_t at) {
    for (std::size_t i = 0; i < original.size(); ++i)
      if (!same_bits(arena[at + i], original[i])) return true;
    return false;
  };
  if (input_changed(op.q, l.q)) return "modified the input q";
  if (input_changed(op.k, l.k)) return "modified the input k";
  if (input_changed(op.v, l.v)) return "modified the input v";
  if (!op.mask.empty() && std::memcmp(arena + l.mask, op.mask.data(), op.mask.size()) != 0)
    return "modified the input mask";
  // Writes into an input's guard region land in memory the kernel does not own either.
  const float nan_bits = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t region : {l.q, l.k, l.v})
    for (std::size_t i = region - GuardedLayout::kGuard; i < region; ++i)
      if (!same_bits(arena[i], nan_bits)) return "wrote into memory before an input buffer";
  const std::size_t unwritten = static_cast<std::size_t>(std::count_if(
      arena + l.out, arena + l.out + op.out_size(), [&](float x) { return same_bits(x, canary); }));
  if (unwritten) return "left " + std::to_string(unwritten) + " of " + std::to_string(op.out_size()) + " outputs unwritten";
  return "";
}

symbreak_attention_problem guarded_problem(float* arena, const GuardedLayout& l, const AttentionOp& op) {
  symbreak_attention_problem p = op.problem(arena + l.out);
  p.q = arena + l.q;
  p.k = arena + l.k;
  p.v = arena + l.v;
  p.mask = op.mask.empty() ? nullptr : reinterpret_cast<const unsigned char*>(arena + l.mask);
  return p;
}

CallResult CallableKernel::run(const AttentionOp& op) {
  const GuardedLayout layout(op);
  std::vector<float> arena(layout.total);
  fill_guarded(arena.data(), layout, op);
  const symbreak_attention_problem p = guarded_problem(arena.data(), layout, op);
  CallResult r;
  const int code = f_(p);
  if (code != 0) {
    r.status = CallResult::Status::returned_error;
    r.message = "returned " + std::to_string(code);
    return r;
  }
  if (std::string bad = check_guarded(arena.data(), layout, op); !bad.empty()) {
    r.status = CallResult::Status::guard_violation;
    r.message = bad;
    return r;
  }
  r.out.assign(arena.begin() + static_cast<std::ptrdiff_t>(layout.out),
               arena.begin() + static_cast<std::ptrdiff_t>(layout.out + op.out_size()));
  return r;
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
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, [&](int b, int h, int r) { return std::tuple{b, h, perm[r]}; });
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

// The exact reference as doubles, and the error a correct float32 kernel can make: the largest error
// against the exact reference over a panel of legitimate float32 algorithms. One reference
// algorithm would make the rule depend on its particular rounding; at extreme logits a kernel that
// scales q before the dot product (as PyTorch does) errs several times more than one that scales
// afterwards, and both are correct.
//   naive        scale · (q·k), then softmax and weights · v
//   q-scaled     (scale·q)·k
//   split-scaled (√scale·q)·(√scale·k)   (PyTorch 1.13's scaled_dot_product_attention)
//   online       FlashAttention's online softmax over 16-key blocks
struct Reference {
  std::vector<double> exact;
  double err = 0;    // max over the panel of max|panel - E|
  double scale = 1;  // max(1, max|E|)
  explicit Reference(const AttentionOp& op) {
    for (const Exact& e : exact_attention(op)) {
      exact.push_back(exact_to_double(e));
      scale = std::max(scale, std::abs(exact.back()));
    }
    const auto measure = [&](const AttentionOp& variant, bool online) {
      std::vector<float> out(op.out_size());
      const symbreak_attention_problem p = variant.problem(out.data());
      if ((online ? tiled_attention(&p, 16, 16) : naive_attention(&p)) != 0)
        throw std::logic_error("a reference kernel refused a valid op");
      for (std::size_t i = 0; i < exact.size(); ++i) err = std::max(err, std::abs(static_cast<double>(out[i]) - exact[i]));
    };
    measure(op, false);
    measure(op, true);
    AttentionOp q_scaled = op;
    for (float& x : q_scaled.q) x *= op.scale;
    q_scaled.scale = 1;
    measure(q_scaled, false);
    AttentionOp split = op;
    const float root = std::sqrt(std::abs(op.scale)), sign = op.scale < 0 ? -1.0f : 1.0f;
    for (float& x : split.q) x *= root * sign;
    for (float& x : split.k) x *= root;
    split.scale = 1;
    measure(split, false);
  }
};

Element element_at(const AttentionOp& op, std::size_t index) {
  Element e;
  e.col = static_cast<int>(index % op.d_v);
  index /= op.d_v;
  e.row = static_cast<int>(index % op.n_q);
  index /= op.n_q;
  e.head = static_cast<int>(index % op.heads);
  e.batch = static_cast<int>(index / op.heads);
  return e;
}

OpOutcome call_failed(const CallResult& r) {
  OpOutcome o;
  o.passed = false;
  o.message = "the kernel " + std::string(to_string(r.status)) + (r.message.empty() ? "" : ": " + r.message);
  return o;
}

// Compares `actual` with `expected` over the selected output indices against `bound`.
OpOutcome compare(const AttentionOp& op, const std::vector<float>& actual, const std::vector<double>& expected,
                  const std::vector<std::size_t>& indices, double bound, const std::string& what) {
  OpOutcome o;
  o.bound = bound;
  double worst = -1;
  for (std::size_t i : indices) {
    const double a = actual[i];
    if (!std::isfinite(a) && std::isfinite(expected[i])) {
      o.passed = false;
      o.error = std::numeric_limits<double>::infinity();
      o.element = element_at(op, i);
      o.message = what + ": non-finite output " + std::to_string(a) + " where the reference is " + std::to_string(expected[i]);
      return o;
    }
    const double d = std::abs(a - expected[i]);
    if (d > worst) {
      worst = d;
      o.element = element_at(op, i);
    }
  }
  o.error = std::max(worst, 0.0);
  if (o.error > bound) {
    o.passed = false;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: |Δ| = %.3e > bound %.3e", what.c_str(), o.error, bound);
    o.message = buf;
  }
  return o;
}

std::vector<std::size_t> all_indices(const AttentionOp& op) {
  std::vector<std::size_t> idx(op.out_size());
  std::iota(idx.begin(), idx.end(), 0);
  return idx;
}

double atol_of(const Tolerance& t, const Reference& r) { return t.atol_ulps * kU32 * r.scale; }

// REFERENCE: max|O − E| ≤ c·max|N − E| + atol.
OpOutcome check_reference(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const Reference ref(c.op);
  const CallResult r = f.run(c.op);
  if (!r.ok()) return call_failed(r);
  const double atol = atol_of(t, ref);
  OpOutcome o = compare(c.op, r.out, ref.exact, all_indices(c.op), t.c * ref.err + atol, "output vs exact reference");
  o.ref_err = ref.err;
  o.atol = atol;
  return o;
}

// An invariance O(x') = T(O(x)): `expected_index(i)` is the index of O(x) that output i of O(x') must equal.
template <class Map>
OpOutcome check_invariance(Kernel& f, const AttentionOp& x, const AttentionOp& x2, const Tolerance& t, Map expected_index,
                           const std::vector<std::size_t>& indices, const std::string& what) {
  const Reference r1(x), r2(x2);
  const CallResult o1 = f.run(x);
  if (!o1.ok()) return call_failed(o1);
  const CallResult o2 = f.run(x2);
  if (!o2.ok()) return call_failed(o2);
  std::vector<double> expected(o2.out.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = o1.out[expected_index(i)];
  const double atol = atol_of(t, r1);
  OpOutcome o = compare(x2, o2.out, expected, indices, t.c * (r1.err + r2.err) + 2 * atol, what);
  o.ref_err = r1.err + r2.err;
  o.atol = atol;
  return o;
}

std::size_t flat(const AttentionOp& op, int b, int h, int i, int c) {
  return ((static_cast<std::size_t>(b) * op.heads + h) * op.n_q + i) * op.d_v + c;
}

// New K and V rows for the rows `changed(j)`, drawn from the transform's seed.
AttentionOp replace_key_rows(const AttentionOp& op, std::uint64_t seed, const std::function<bool(int)>& changed) {
  AttentionOp out = op;
  Rng rng(seed);
  for (int bh = 0; bh < op.batch * op.heads; ++bh)
    for (int j = 0; j < op.n_k; ++j) {
      if (!changed(j)) continue;
      for (int c = 0; c < op.d_head; ++c) out.k[(static_cast<std::size_t>(bh) * op.n_k + j) * op.d_head + c] = static_cast<float>(rng.normal() * 3);
      for (int c = 0; c < op.d_v; ++c) out.v[(static_cast<std::size_t>(bh) * op.n_k + j) * op.d_v + c] = static_cast<float>(rng.normal() * 3);
    }
  return out;
}

OpOutcome check_kv_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  return check_invariance(f, c.op, permute_keys(c.op, c.transform.permutation), t, [](std::size_t i) { return i; },
                          all_indices(c.op), "keys and values permuted");
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
      all_indices(x), "queries permuted");
}

// CAUSAL: keys at or after `position` change; queries before it cannot see them.
OpOutcome check_causal(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const int first = std::clamp(c.transform.position, 1, x.n_k);
  const AttentionOp x2 = replace_key_rows(x, c.transform.seed, [&](int j) { return j >= first; });
  std::vector<std::size_t> idx;
  for (int b = 0; b < x.batch; ++b)
    for (int h = 0; h < x.heads; ++h)
      for (int i = 0; i < std::min(first, x.n_q); ++i)
        for (int col = 0; col < x.d_v; ++col) idx.push_back(flat(x, b, h, i, col));
  return check_invariance(f, x, x2, t, [](std::size_t i) { return i; }, idx, "keys a query cannot see changed");
}

// MASK: key row `position` changes; every query that may not attend it keeps its output.
OpOutcome check_mask(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const int j = std::clamp(c.transform.position, 0, x.n_k - 1);
  const AttentionOp x2 = replace_key_rows(x, c.transform.seed, [&](int r) { return r == j; });
  const AttentionMask m = x.visibility();
  std::vector<std::size_t> idx;
  for (int b = 0; b < x.batch; ++b)
    for (int h = 0; h < x.heads; ++h)
      for (int i = 0; i < x.n_q; ++i)
        if (!m.visible(i, j))
          for (int col = 0; col < x.d_v; ++col) idx.push_back(flat(x, b, h, i, col));
  return check_invariance(f, x, x2, t, [](std::size_t i) { return i; }, idx, "a masked key changed");
}

// CONVEX: each output lies in the hull of the visible values (within the reference tolerance), and
// adding δ to every value row adds δ to every output.
OpOutcome check_convex(Kernel& f, const OpCase& c, const Tolerance& t, bool) {
  const AttentionOp& x = c.op;
  const Reference ref(x);
  const CallResult r = f.run(x);
  if (!r.ok()) return call_failed(r);
  const double atol = atol_of(t, ref), slack = t.c * ref.err + atol;
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
            const double vj = x.v[((static_cast<std::size_t>(b) * x.heads + h) * x.n_k + j) * x.d_v + col];
            lo = std::min(lo, vj);
            hi = std::max(hi, vj);
          }
          const double out = r.out[flat(x, b, h, i, col)];
          const double outside = !std::isfinite(out) ? std::numeric_limits<double>::infinity()
                                                     : std::max({lo - out, out - hi, 0.0});
          if (outside > o.error || (!std::isfinite(outside) && o.passed)) {
            o.error = outside;
            o.element = {b, h, i, col};
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
  const CallResult o2 = f.run(shifted);
  if (!o2.ok()) return call_failed(o2);
  std::vector<double> expected(o2.out.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<double>(r.out[i]) + delta[i % x.d_v];
  OpOutcome shift = compare(x, o2.out, expected, all_indices(x), t.c * (ref.err + r2.err) + 2 * atol, "values shifted by δ");
  shift.ref_err = ref.err + r2.err;
  shift.atol = atol;
  // Report whichever half came closer to its bound.
  return !shift.passed || shift.error / std::max(shift.bound, 1e-300) > o.error / std::max(o.bound, 1e-300) ? shift : o;
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
      all_indices(x), "heads permuted");
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
      all_indices(x), "batch items permuted");
}

// DETERMINISM: the same input twice gives the same bits.
OpOutcome check_determinism(Kernel& f, const OpCase& c, const Tolerance&, bool strict) {
  const CallResult a = f.run(c.op);
  if (!a.ok()) return call_failed(a);
  const CallResult b = f.run(c.op);
  if (!b.ok()) return call_failed(b);
  OpOutcome o;
  for (std::size_t i = 0; i < a.out.size(); ++i)
    if (!same_bits(a.out[i], b.out[i])) {
      o.passed = !strict;
      o.warning = true;
      o.error = std::abs(static_cast<double>(a.out[i]) - b.out[i]);
      o.element = element_at(c.op, i);
      o.message = "two runs on the same input differ";
      break;
    }
  return o;
}

}  // namespace

const std::vector<OpProperty>& op_catalogue() {
  static const std::vector<OpProperty> properties = {
      {"REFERENCE", "max|O − E| ≤ c·max|N − E| + atol against the exact reference E (N: float32 naive)", true, true,
       false, false, false, false, check_reference},
      {"KV-PERM", "no mask: permuting the rows of K and V together leaves O unchanged", false, false, false, false, false, false,
       check_kv_perm},
      {"Q-PERM", "permuting the rows of Q (and of the mask) permutes the rows of O", true, false, false, false, false, false,
       check_q_perm},
      {"CAUSAL", "causal: changing K, V rows j ≥ t leaves the outputs of queries i < t unchanged", true, true, false,
       true, true, false, check_causal},
      {"MASK", "explicit mask: changing a K, V row leaves the outputs of the queries that may not attend it unchanged",
       true, true, false, false, false, true, check_mask},
      {"CONVEX", "O lies in the hull of the visible V rows; V + 1·δᵀ shifts O by δ", true, true, false, false, false, false,
       check_convex},
      {"HEADS", "permuting heads permutes the outputs", true, true, false, false, false, false, check_heads},
      {"BATCH", "permuting batch items permutes the outputs", true, true, false, false, false, false, check_batch},
      {"ROBUST", "REFERENCE on extreme logits (±1e6), tiny values, n_k = 1, odd and long sizes, d_v ≠ d_head, any scale",
       true, true, true, false, false, false, check_reference},
      {"DETERMINISM", "the same input twice gives the same bits (a warning unless --strict-determinism)", true, true,
       false, false, false, false, check_determinism},
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

}  // namespace symbreak::props::ops
