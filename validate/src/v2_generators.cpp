// Cases for the version-2 properties (ALIGNMENT, GQA-MAPPING, WINDOW-BOUNDARY, PADDING, EMPTY-ROWS and
// their backward twins). Each case exercises the property's feature and, at random, the other
// version-2 features the kernel declares, so a kernel that declares several is tested on their
// combinations (a window with bottom-right alignment and padding, grouped heads with a per-head mask).
// Every case is moved inside the declared region before it is used (settle()).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>

#include "generators.hpp"
#include "symbreak/properties/generators.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::validate {
namespace {

namespace gen = properties::gen;

bool has_causal(MaskMode m) { return m == MaskMode::causal || m == MaskMode::causal_and_explicit; }
bool has_explicit(MaskMode m) { return m == MaskMode::explicit_mask || m == MaskMode::causal_and_explicit; }

// The additive bias of a case (BIAS): N(0, 1); with −inf entries (hidden keys); entries of ±1e4;
// whole rows of −inf (rows with no visible key); whole rows of −FLT_MAX (not hidden: the softmax is
// shift-invariant, so the exact weights are those of the scores alone); −FLT_MAX on exactly the
// keys the mask leaves visible and N(0, 1) on the masked ones (a mask written as an additive
// −FLT_MAX no longer tells them apart: NVIDIA-NeMo/Automodel#2658).
enum class BiasKind { none, normal, with_inf, huge, inf_rows, flt_max_rows, flt_max_visible };
// Drawn cases leave out −FLT_MAX rows: no float kernel can add a score to −FLT_MAX and keep it, so
// err_ref (one number per case) is then the size of the output, and the rest of the case goes
// unchecked. The edge cases have them, where they still catch a NaN.
constexpr BiasKind kDrawnBiases[] = {BiasKind::normal, BiasKind::with_inf, BiasKind::huge};
// ALiBi slopes: the paper's geometric sequence 2^(−8(h+1)/H), uniform in (0, 1], or steep (1 to 4).
enum class AlibiKind { none, geometric, uniform, steep };

// The structure of a case; values are filled from `seed` once the structure is inside the region.
struct Shape {
  int batch = 1, heads = 1, heads_kv = 0, n_q = 4, n_k = 4, d_head = 4, d_v = 4;
  MaskMode mode = MaskMode::none;
  Alignment alignment = Alignment::top_left;
  int window_left = -1, window_right = -1;
  std::vector<int> kv_lens;
  bool per_head_mask = false;
  double density = 0.6;       // explicit masks: the share of visible entries
  std::vector<int> dead_rows; // explicit masks: rows made all-False (EMPTY-ROWS)
  std::pair<int, int> live_band{-1, -1};  // explicit masks: rows see only keys in [first, last)
  bool huge = false;          // logits of order ±1e4 (scores far apart)
  float softcap = 0;          // > 0: logit soft-capping
  BiasKind bias = BiasKind::none;
  AlibiKind alibi = AlibiKind::none;
  bool zero_q = false;        // every query 0: all scores tie (a bias alone decides the weights)
  bool any_scale = false;
  std::uint64_t seed = 1;
};

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

// A case from a shape, inside the region; nullopt when the shape cannot be made to fit.
std::optional<AttentionOp> settle(Shape s, const Capabilities& caps, bool backward, bool square_if_unaligned = true) {
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

// Forces the property's feature onto a drawn shape.
void force_feature(Shape& s, std::string_view feature, const Capabilities& caps, Rng& rng) {
  if (feature == "align") {
    s.mode = caps.supports(MaskMode::causal_and_explicit) && rng.below(3) == 0 ? MaskMode::causal_and_explicit : MaskMode::causal;
    if (s.n_q == s.n_k) s.n_k += 1 + static_cast<int>(rng.below(5));
    if (rng.below(2) == 0) std::swap(s.n_q, s.n_k);
  } else if (feature == "gqa" || feature == "gqa-perm") {
    const int kvh = 1 + static_cast<int>(rng.below(2)), group = 2 + static_cast<int>(rng.below(2));
    s.heads_kv = kvh;
    s.heads = kvh * group;
  } else if (feature == "softcap") {
    const float caps_drawn[] = {0.5f, 1, 5, 20, 30, 50};  // Gemma 2 uses 50 (attention) and 30 (final logits)
    s.softcap = caps_drawn[rng.below(6)];
    s.huge = rng.below(2) == 0;  // logits far beyond the cap: the saturated regime
  } else if (feature == "bias") {
    s.bias = kDrawnBiases[rng.below(3)];
    if (caps.empty_rows && rng.below(4) == 0) s.bias = BiasKind::inf_rows;
  } else if (feature == "alibi") {
    s.alibi = static_cast<AlibiKind>(1 + rng.below(3));
    if (rng.below(2) == 0 && s.n_q == s.n_k) s.n_k += 1 + static_cast<int>(rng.below(6));  // the aligned distance matters
  } else if (feature == "window") {
    const int w[] = {0, 1, 2, 3, s.n_k / 2, s.n_k - 1};
    s.window_left = w[rng.below(6)];
    s.window_right = rng.below(2) ? -1 : w[rng.below(6)];
  } else if (feature == "padding") {
    s.kv_lens.assign(static_cast<std::size_t>(s.batch), s.n_k);
    for (int& l : s.kv_lens) l = 1 + static_cast<int>(rng.below(static_cast<std::size_t>(s.n_k)));
  } else if (feature == "empty-rows") {
    if (caps.mask_explicit && (rng.below(2) == 0 || !(caps.align_bottom_right || caps.window))) {
      s.mode = caps.supports(MaskMode::explicit_mask) ? MaskMode::explicit_mask : MaskMode::causal_and_explicit;
      s.dead_rows = {static_cast<int>(rng.below(static_cast<std::size_t>(s.n_q)))};
    } else if (caps.align_bottom_right && caps.mask_causal) {
      s.mode = MaskMode::causal;
      s.alignment = Alignment::bottom_right;
      if (s.n_q <= s.n_k) s.n_q = s.n_k + 1 + static_cast<int>(rng.below(4));
    } else {
      s.window_left = s.window_right = 0;
      s.n_q = s.n_k + 1 + static_cast<int>(rng.below(4));  // rows past the keys see no key in their window
    }
  }
}

// Turns on, at random, each other version-2 feature the kernel declares.
void maybe_features(Shape& s, const Capabilities& caps, Rng& rng) {
  if (caps.gqa && rng.below(3) == 0 && s.heads_kv == 0) {
    s.heads_kv = 1;
    s.heads = 2 + static_cast<int>(rng.below(2));
  }
  if (caps.window && rng.below(3) == 0 && s.window_left < 0 && s.window_right < 0) {
    s.window_left = static_cast<int>(rng.below(static_cast<std::size_t>(s.n_k) + 1));
    s.window_right = rng.below(2) ? -1 : static_cast<int>(rng.below(4));
  }
  if (caps.padding && rng.below(3) == 0 && s.kv_lens.empty()) {
    s.kv_lens.assign(static_cast<std::size_t>(s.batch), s.n_k);
    for (int& l : s.kv_lens) l = 1 + static_cast<int>(rng.below(static_cast<std::size_t>(s.n_k)));
  }
  if (caps.mask_per_head && has_explicit(s.mode)) s.per_head_mask = rng.below(2) == 0;
  if (caps.softcap && rng.below(4) == 0 && s.softcap == 0) s.softcap = static_cast<float>(1 + 49 * rng.uniform());
}

// GQA-PERM's transform: the KV heads shuffled, each carrying its group of query heads along, and
// the query heads shuffled inside each group; perm[h] is the old query head that becomes head h.
// Never the identity when there are two heads (then both levels are reversed instead).
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

}  // namespace

// The capabilities a case is drawn from: under empty-rows=nan the backward gets no row without a key
// (a NaN row's gradients are NaN throughout dK and dV: nothing left to check).
Capabilities drawn_from(const Capabilities& declared, bool backward) {
  Capabilities c = declared;
  if (backward && c.empty_rows_nan) c.empty_rows = c.empty_rows_nan = false;
  return c;
}

rc::Gen<OpCase> v2_case_gen(const OpProperty& p, const Capabilities& declared) {
  const std::vector<MaskMode> modes = property_modes(p, declared);
  const bool backward = p.pass == Pass::backward;
  const Capabilities caps = drawn_from(declared, backward);
  const int max_n = backward ? 16 : 24;
  const std::string feature(p.feature);
  return rc::gen::map(
      rc::gen::tuple(gen::scaled(1, 3), gen::scaled(1, max_n), gen::scaled(1, max_n), gen::scaled(1, 8), gen::scaled(1, 8),
                     rc::gen::elementOf(modes), rc::gen::element(false, true), rc::gen::element(false, true),
                     rc::gen::inRange<std::uint32_t>(0, 1u << 31)),
      [caps, backward, feature](const auto& t) {
        Shape s;
        std::tie(s.batch, s.n_q, s.n_k, s.d_head, s.d_v, s.mode, s.huge, s.any_scale, s.seed) = t;
        s.seed += 1;
        Rng rng(s.seed * 2654435761u + 17);
        s.density = 0.2 + 0.6 * rng.uniform();
        force_feature(s, feature, caps, rng);
        maybe_features(s, caps, rng);
        std::optional<AttentionOp> op = settle(s, caps, backward);
        OpCase c{op ? std::move(*op) : plain_case(caps, backward, s.seed), {}};
        if (feature == "gqa-perm") c.transform.permutation = grouped_head_permutation(c.op, rng);
        return c;
      });
}

std::vector<OpCase> v2_edge_cases(const OpProperty& p, const Capabilities& declared) {
  std::vector<OpCase> out;
  const bool backward = p.pass == Pass::backward;
  const Capabilities caps = drawn_from(declared, backward);
  const std::string_view f = p.feature;
  const auto add = [&](Shape s) {
    std::optional<AttentionOp> op = settle(s, caps, backward, /*square_if_unaligned=*/false);
    if (!op) return;
    OpCase c{std::move(*op), {}};
    if (f == "gqa-perm") {
      Rng rng(s.seed);
      c.transform.permutation = grouped_head_permutation(c.op, rng);
    }
    out.push_back(std::move(c));
  };
  const MaskMode causal = MaskMode::causal;
  std::uint64_t seed = 100;
  const auto shape = [&](int n_q, int n_k, MaskMode mode) {
    Shape s;
    s.n_q = n_q;
    s.n_k = n_k;
    s.mode = mode;
    s.d_head = 4;
    s.d_v = 3;
    s.seed = ++seed;
    return s;
  };
  if (f == "align") {
    for (const Alignment a : {Alignment::top_left, Alignment::bottom_right}) {
      if (!(a == Alignment::top_left ? caps.align_top_left : caps.align_bottom_right)) continue;
      for (const auto& [nq, nk] : std::vector<std::pair<int, int>>{{3, 7}, {7, 7}, {7, 3}, {5, 130}, {17, 33}, {2, 1}}) {
        Shape s = shape(nq, nk, causal);
        s.alignment = a;
        add(s);
      }
      Shape decode = shape(1, backward ? 512 : 4096, causal);  // one query against a KV cache
      decode.alignment = a;
      decode.d_head = decode.d_v = 8;
      add(decode);
      if (caps.window) {
        Shape w = shape(6, 20, causal);
        w.alignment = a;
        w.window_left = 4;
        add(w);
      }
      if (caps.padding) {
        Shape pad = shape(4, 17, causal);
        pad.alignment = a;
        pad.batch = 3;
        pad.kv_lens = {17, 9, 5};
        add(pad);
      }
    }
  } else if (f == "gqa" || f == "gqa-perm") {
    for (const auto& [heads, kv] : std::vector<std::pair<int, int>>{{4, 2}, {6, 1}, {8, 2}, {6, 3}}) {
      for (const int n : {1, 2, 5, 17}) {
        Shape s = shape(n, n, caps.supports(causal) ? causal : caps.mask_modes().front());
        s.heads = heads;
        s.heads_kv = kv;
        s.batch = n == 17 ? 2 : 1;
        add(s);
      }
    }
    Shape tile = shape(15, 33, caps.mask_modes().front());
    tile.heads = 4;
    tile.heads_kv = 2;
    tile.huge = true;
    add(tile);
  } else if (f == "softcap") {
    const MaskMode m = caps.supports(causal) ? causal : caps.mask_modes().front();
    // Sizes 1, 2, 5, 17 and around a tile of 16; caps from 0.5 (every score squeezed) to 50 (Gemma 2),
    // with logits far beyond the cap (tanh saturated: near-ties at ±cap) and within it.
    for (const auto& [n, cap, huge] : std::vector<std::tuple<int, float, bool>>{
             {1, 30, false}, {2, 1, true}, {5, 50, true}, {17, 5, true}, {15, 20, true}, {16, 20, true}, {17, 20, false},
             {33, 0.5f, false}}) {
      Shape s = shape(n, n, m);
      s.softcap = cap;
      s.huge = huge;
      add(s);
    }
    Shape decode = shape(1, backward ? 130 : 1024, MaskMode::none);  // one query, a long cache, saturated logits
    decode.softcap = 30;
    decode.huge = true;
    decode.d_head = decode.d_v = 8;
    add(decode);
    if (caps.mask_explicit) {
      Shape masked = shape(6, 20, MaskMode::explicit_mask);  // masked keys stay out: −inf is not capped to −c
      masked.softcap = 2;
      masked.huge = true;
      masked.density = 0.3;
      add(masked);
    }
  } else if (f == "bias") {
    const MaskMode m = caps.supports(causal) ? causal : caps.mask_modes().front();
    // Sizes 1, 2, 5, 17 and around a tile of 16, each bias kind; a decode row; the bias after a small
    // cap (a kernel that adds it before the cap squeezes it); −FLT_MAX on the visible keys beside
    // masked ones, with all scores tied, so only the mask can tell them apart.
    for (const auto& [n, kind] : std::vector<std::pair<int, BiasKind>>{
             {1, BiasKind::normal}, {2, BiasKind::with_inf}, {5, BiasKind::huge}, {17, BiasKind::normal}, {15, BiasKind::with_inf},
             {16, BiasKind::flt_max_rows}, {17, BiasKind::flt_max_rows}, {33, BiasKind::with_inf}}) {
      Shape s = shape(n, n, m);
      s.bias = kind;
      s.heads = n == 17 ? 3 : 1;
      add(s);
    }
    Shape decode = shape(1, backward ? 130 : 1024, MaskMode::none);
    decode.bias = BiasKind::with_inf;
    decode.d_head = decode.d_v = 8;
    add(decode);
    if (caps.softcap) {
      Shape capped = shape(9, 9, m);
      capped.softcap = 1;
      capped.bias = BiasKind::normal;
      capped.huge = true;
      add(capped);
    }
    for (const MaskMode masked : {causal, MaskMode::explicit_mask}) {
      if (!caps.supports(masked)) continue;
      Shape tie = shape(6, 6, masked);
      tie.bias = BiasKind::flt_max_visible;
      tie.zero_q = true;
      tie.density = 0.5;
      tie.heads = 2;
      add(tie);
    }
    if (caps.gqa) {
      Shape g = shape(5, 7, caps.mask_modes().front());
      g.heads = 4;
      g.heads_kv = 2;
      g.bias = BiasKind::normal;
      add(g);
    }
  } else if (f == "alibi") {
    // The paper's slopes for 1 to 8 heads, steep slopes, non-causal (the distance is |i − j|, both
    // sides), n_q ≠ n_k in the declared alignment with a decode row (the distance is to the aligned
    // position), and grouped heads (the slope is the query head's).
    for (const auto& [heads, n_q, n_k, mode, kind] : std::vector<std::tuple<int, int, int, MaskMode, AlibiKind>>{
             {1, 5, 5, causal, AlibiKind::geometric}, {8, 17, 17, causal, AlibiKind::geometric},
             {3, 2, 2, MaskMode::none, AlibiKind::steep}, {4, 16, 16, MaskMode::none, AlibiKind::uniform},
             {2, 33, 33, MaskMode::none, AlibiKind::geometric}, {2, 3, 9, MaskMode::none, AlibiKind::steep},
             {2, 4, 11, causal, AlibiKind::steep}, {2, 1, backward ? 130 : 1024, MaskMode::none, AlibiKind::uniform},
             {2, 1, backward ? 130 : 1024, causal, AlibiKind::geometric}}) {
      Shape s = shape(n_q, n_k, caps.supports(mode) ? mode : caps.mask_modes().front());
      s.heads = heads;
      s.alibi = kind;
      add(s);
    }
    if (caps.gqa)
      for (const MaskMode mode : {causal, MaskMode::none}) {
        Shape g = shape(6, 6, caps.supports(mode) ? mode : caps.mask_modes().front());
        g.heads = 4;
        g.heads_kv = 2;
        g.alibi = AlibiKind::steep;
        add(g);
      }
  } else if (f == "window") {
    const MaskMode m = caps.supports(causal) ? causal : caps.mask_modes().front();
    for (const auto& [n, left, right, mode] : std::vector<std::tuple<int, int, int, MaskMode>>{
             {9, 8, -1, m},                         // left = n_k − 1: the causal mask itself
             {9, 0, 0, MaskMode::none},             // the diagonal only
             {12, 3, 2, MaskMode::none},            // a two-sided band
             {12, 4, -1, m},                        // window ∩ causal
             {40, 15, -1, m}, {40, 16, -1, m}, {40, 17, -1, m},  // widths around a tile of 16
             {33, 31, 1, MaskMode::none}, {33, 32, 0, MaskMode::none}}) {
      Shape s = shape(n, n, mode);
      s.window_left = left;
      s.window_right = right;
      add(s);
    }
  } else if (f == "padding") {
    Shape s = shape(5, 33, caps.mask_modes().front());
    s.batch = 3;
    s.kv_lens = {1, 33, 17};
    add(s);
    Shape t = shape(3, 130, caps.mask_modes().front());
    t.batch = 2;
    t.kv_lens = {129, 64};
    t.huge = true;
    add(t);
    Shape u = shape(4, 18, caps.mask_modes().front());
    u.batch = 4;
    u.kv_lens = {15, 16, 17, 2};
    add(u);
  } else if (f == "empty-rows") {
    if (caps.mask_explicit) {
      const MaskMode m = caps.supports(MaskMode::explicit_mask) ? MaskMode::explicit_mask : MaskMode::causal_and_explicit;
      Shape s = shape(6, 9, m);
      s.dead_rows = {0, 3, 5};
      add(s);
      Shape all = shape(3, 5, m);
      all.dead_rows = {0, 1, 2};  // every row empty
      add(all);
      Shape tiles = shape(5, 64, MaskMode::explicit_mask);
      tiles.live_band = {40, 48};  // whole tiles of 16 keys masked inside live rows
      tiles.huge = true;
      add(tiles);
    }
    if (caps.align_bottom_right && caps.mask_causal) {
      Shape s = shape(9, 4, causal);  // rows 0..4 lie above every key
      s.alignment = Alignment::bottom_right;
      add(s);
      if (caps.padding) {
        Shape pad = shape(4, 6, causal);
        pad.alignment = Alignment::bottom_right;
        pad.batch = 2;
        pad.kv_lens = {2, 6};
        add(pad);
      }
    }
    if (caps.bias) {  // whole rows of −inf (empty) and of −FLT_MAX (not empty) bias
      Shape inf = shape(7, 7, caps.mask_modes().front());
      inf.bias = BiasKind::inf_rows;
      add(inf);
      Shape lowest = shape(7, 7, caps.mask_modes().front());
      lowest.bias = BiasKind::flt_max_rows;
      add(lowest);
    }
    if (caps.window) {
      Shape s = shape(8, 8, MaskMode::none);
      s.window_left = s.window_right = 0;
      if (caps.padding) {
        s.batch = 2;
        s.kv_lens = {3, 8};  // rows 3..7 of batch 0 see no key in their window
      }
      add(s);
    }
  }
  return out;
}

}  // namespace symbreak::validate
