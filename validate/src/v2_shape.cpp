// Version-2 shapes made into cases: values drawn from the shape's seed, every row given a key where
// the kernel declares no empty rows, and the shape moved inside the declared region (v2_shape.hpp).
#include "v2_shape.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace symbreak::validate::v2 {
namespace {

// The bias or ALiBi slopes of a case whose other fields are filled.
void fill_bias(AttentionOp& op, const Shape& s, Rng& rng) {
  const float neg_inf = -std::numeric_limits<float>::infinity(), lowest = std::numeric_limits<float>::lowest();
  if (s.bias != BiasKind::none) {
    op.bias.resize(static_cast<std::size_t>(op.heads) * op.n_q * op.n_k);
    const int special_row = static_cast<int>(rng.below(static_cast<std::size_t>(op.n_q)));
    for (int h = 0; h < op.heads; ++h)
      for (int i = 0; i < op.n_q; ++i)
        for (int j = 0; j < op.n_k; ++j) {
          float& x = op.bias[op.bias_index(h, i, j)];
          x = static_cast<float>(rng.normal());
          switch (s.bias) {
            case BiasKind::with_inf: if (rng.uniform() < 0.3) x = neg_inf; break;
            case BiasKind::huge: x = static_cast<float>(1e4 * rng.normal()); break;
            case BiasKind::inf_rows: if (i == special_row || i % 3 == 1) x = neg_inf; break;
            case BiasKind::flt_max_rows: if (i == special_row || i % 3 == 1) x = lowest; break;
            case BiasKind::flt_max_visible: if (op.visible(0, h, i, j)) x = lowest; break;
            default: break;
          }
        }
  }
  if (s.alibi != AlibiKind::none) {
    op.alibi_slopes.resize(static_cast<std::size_t>(op.heads));
    for (int h = 0; h < op.heads; ++h)
      op.alibi_slopes[static_cast<std::size_t>(h)] =
          s.alibi == AlibiKind::geometric ? std::exp2(-8.0f * static_cast<float>(h + 1) / static_cast<float>(op.heads))
          : s.alibi == AlibiKind::uniform ? static_cast<float>(1.0 - rng.uniform())
                                          : static_cast<float>(1 + 3 * rng.uniform());
  }
}

AttentionOp fill(const Shape& s, const Capabilities& caps, bool backward) {
  AttentionOp op;
  op.batch = s.batch;
  op.heads = s.heads;
  op.heads_kv = s.heads_kv;
  op.n_q = s.n_q;
  op.n_k = s.n_k;
  op.d_head = s.d_head;
  op.d_v = caps.dv_differs ? s.d_v : s.d_head;
  op.causal = has_causal(s.mode);
  op.alignment = s.alignment;
  op.window_left = s.window_left;
  op.window_right = s.window_right;
  op.kv_lens = s.kv_lens;
  op.empty_rows = caps.empty_rows;
  op.empty_rows_nan = caps.empty_rows_nan;
  op.softcap = s.softcap;
  Rng rng(s.seed);
  op.scale = s.any_scale && caps.any_scale ? static_cast<float>(0.1 + 2 * rng.uniform())
                                           : 1.0f / std::sqrt(static_cast<float>(op.d_head));
  const double qk = s.huge ? std::sqrt(1e4 / (std::abs(op.scale) * op.d_head)) : 1.0;
  const auto normal = [&](std::vector<float>& x, std::size_t n, double scale) {
    x.resize(n);
    for (float& v : x) v = static_cast<float>(rng.normal() * scale);
  };
  normal(op.q, op.q_size(), qk);
  normal(op.k, op.k_size(), qk);  // distinct K and V per KV head: a wrong head mapping shows
  normal(op.v, op.v_size(), 1.0);
  if (has_explicit(s.mode)) {
    op.mask_per_head = s.per_head_mask && caps.mask_per_head;
    const std::size_t rows = op.mask_per_head ? static_cast<std::size_t>(op.batch) * op.heads * op.n_q : op.n_q;
    op.mask.resize(rows * op.n_k);
    for (std::size_t r = 0; r < rows; ++r) {
      const int i = static_cast<int>(r % op.n_q);
      for (int j = 0; j < op.n_k; ++j) {
        bool on = rng.uniform() < s.density;
        if (s.live_band.first >= 0) on = j >= s.live_band.first && j < s.live_band.second;
        if (std::find(s.dead_rows.begin(), s.dead_rows.end(), i) != s.dead_rows.end()) on = false;
        op.mask[r * op.n_k + j] = on;
      }
    }
  }
  if (s.zero_q) std::fill(op.q.begin(), op.q.end(), 0.0f);
  fill_bias(op, s, rng);
  if (backward) normal(op.d_out, op.out_size(), 1.0);
  return op;
}

// Makes every row see a key when the kernel does not declare empty rows: a row that no key could
// reach whatever the mask loses its window; a row that only the mask empties gets one key back.
void give_every_row_a_key(AttentionOp& op, Rng& rng) {
  if (op.empty_rows) return;
  AttentionOp structure = op;
  structure.mask.clear();
  structure.mask_per_head = false;
  structure.bias.clear();
  for (int b = 0; b < op.batch; ++b)
    for (int i = 0; i < op.n_q; ++i)
      if (structure.row_empty(b, 0, i)) {
        op.window_left = op.window_right = -1;
        structure.window_left = structure.window_right = -1;
      }
  for (int b = 0; b < op.batch; ++b)
    for (int h = 0; h < op.heads; ++h)
      for (int i = 0; i < op.n_q; ++i) {
        if (!op.row_empty(b, h, i)) continue;
        std::vector<int> reachable;
        for (int j = 0; j < op.n_k; ++j)
          if (structure.visible(b, h, i, j)) reachable.push_back(j);
        if (reachable.empty() || (op.mask.empty() && op.bias.empty())) continue;  // settle() drops such a case
        const int j = reachable[rng.below(reachable.size())];
        const std::size_t row = op.mask_per_head ? (static_cast<std::size_t>(b) * op.heads + h) * op.n_q + i : i;
        if (!op.mask.empty()) op.mask[row * op.n_k + j] = 1;
        if (!op.bias.empty()) {
          float& x = op.bias[op.bias_index(h, i, j)];
          if (std::isinf(x)) x = 0.0f;
        }
      }
}

// The shape moved inside the region where it can be; false when it cannot.
bool settle_shape(Shape& s, const Capabilities& caps, bool square_if_unaligned) {
  const auto clamp = [](int v, int limit) { return limit > 0 ? std::min(v, limit) : v; };
  s.batch = clamp(s.batch, caps.max_batch);
  s.n_q = clamp(s.n_q, caps.max_n);
  s.n_k = clamp(s.n_k, caps.max_n);
  s.d_head = clamp(s.d_head, caps.max_d);
  s.d_v = clamp(s.d_v, caps.max_d);
  if (!caps.gqa) s.heads_kv = 0;
  if (caps.max_heads > 0 && s.heads > caps.max_heads) {
    s.heads = caps.max_heads;
    if (s.heads_kv > 0 && s.heads % s.heads_kv != 0) s.heads_kv = 0;
  }
  if (s.heads_kv >= s.heads) s.heads_kv = 0;
  if (!caps.window) s.window_left = s.window_right = -1;
  if (!caps.softcap) s.softcap = 0;
  if (!caps.bias) s.bias = BiasKind::none;
  if (!caps.alibi) s.alibi = AlibiKind::none;
  if (s.bias == BiasKind::inf_rows && !caps.empty_rows) s.bias = BiasKind::with_inf;
  if (!caps.padding) s.kv_lens.clear();
  if (s.kv_lens.size() != static_cast<std::size_t>(s.batch)) s.kv_lens.clear();
  for (int& l : s.kv_lens) l = std::clamp(l, 1, s.n_k);
  if (!caps.supports(s.mode)) {
    const auto modes = caps.mask_modes();
    if (modes.empty()) return false;
    s.mode = modes.front();
  }
  // The alignment: the declared one; with none declared, causal and windows only where n_q = kv_len.
  const bool aligned = has_causal(s.mode) || s.window_left >= 0 || s.window_right >= 0 || s.alibi != AlibiKind::none;
  if (caps.align_bottom_right && !caps.align_top_left) s.alignment = Alignment::bottom_right;
  if (caps.align_top_left && !caps.align_bottom_right) s.alignment = Alignment::top_left;
  if (aligned && !caps.align_top_left && !caps.align_bottom_right) {
    if (!square_if_unaligned) return false;
    s.n_k = s.n_q;
    s.kv_lens.clear();
  }
  // Bottom-right rows above the keys see nothing: only for kernels that declare empty rows.
  if (aligned && s.alignment == Alignment::bottom_right && !caps.empty_rows && has_causal(s.mode)) {
    s.n_q = std::min(s.n_q, s.n_k);
    for (int& l : s.kv_lens) l = std::max(l, s.n_q);
  }
  if (!caps.cross && !aligned) s.n_k = s.n_q;
  if (!caps.empty_rows) s.dead_rows.clear();
  return true;
}

}  // namespace

std::optional<AttentionOp> settle(Shape s, const Capabilities& caps, bool backward, bool square_if_unaligned) {
  if (!settle_shape(s, caps, square_if_unaligned)) return std::nullopt;
  AttentionOp op = fill(s, caps, backward);
  Rng rng(s.seed ^ 0x9e3779b97f4a7c15ULL);
  give_every_row_a_key(op, rng);
  try {
    op.validate();
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
  if (!caps.allows(op)) return std::nullopt;
  return op;
}

// The version-1 case every property can fall back to (inside any region).
AttentionOp plain_case(const Capabilities& caps, bool backward, std::uint64_t seed) {
  Shape s;
  s.mode = caps.mask_modes().front();
  s.seed = seed;
  s.n_q = s.n_k = std::min(4, caps.max_n > 0 ? caps.max_n : 4);
  settle_shape(s, caps, true);
  s.window_left = s.window_right = -1;
  s.kv_lens.clear();
  s.heads_kv = 0;
  AttentionOp op = fill(s, caps, backward);
  op.empty_rows = false;
  Rng rng(seed);
  give_every_row_a_key(op, rng);
  return op;
}

std::vector<int> grouped_head_permutation(const AttentionOp& op, Rng& rng) {
  const int kvh = op.kv_heads(), group = op.heads / kvh;
  const auto shuffled = [&rng](int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
    for (int i = n - 1; i > 0; --i) std::swap(v[static_cast<std::size_t>(i)], v[rng.below(static_cast<std::uint64_t>(i) + 1)]);
    return v;
  };
  const std::vector<int> kv = shuffled(kvh);
  std::vector<int> perm(static_cast<std::size_t>(op.heads));
  for (int g = 0; g < kvh; ++g) {
    const std::vector<int> inner = shuffled(group);
    for (int r = 0; r < group; ++r) perm[static_cast<std::size_t>(g * group + r)] = kv[static_cast<std::size_t>(g)] * group + inner[static_cast<std::size_t>(r)];
  }
  bool identity = true;
  for (int h = 0; h < op.heads; ++h) identity &= perm[static_cast<std::size_t>(h)] == h;
  if (identity)
    for (int h = 0; h < op.heads; ++h)
      perm[static_cast<std::size_t>(h)] = (kvh - 1 - h / group) * group + (group - 1 - h % group);
  return perm;
}

Capabilities drawn_from(const Capabilities& declared, bool backward) {
  Capabilities c = declared;
  if (backward && c.empty_rows_nan) c.empty_rows = c.empty_rows_nan = false;
  return c;
}

}  // namespace symbreak::validate::v2
