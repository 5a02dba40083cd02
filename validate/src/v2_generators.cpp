// Cases for the version-2 properties (ALIGNMENT, GQA-MAPPING, WINDOW-BOUNDARY, PADDING, EMPTY-ROWS and
// their backward twins). Each case exercises the property's feature and, at random, the other
// version-2 features the kernel declares, so a kernel that declares several is tested on their
// combinations (a window with bottom-right alignment and padding, grouped heads with a per-head mask).
// Every case is moved inside the declared region before it is used (settle()).
#include <algorithm>
#include <optional>
#include <string>
#include <tuple>

#include "case_generators.hpp"
#include "symbreak/properties/generators.hpp"
#include "v2_shape.hpp"

namespace symbreak::validate {
namespace {

namespace gen = properties::gen;
using namespace v2;

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

}  // namespace

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
