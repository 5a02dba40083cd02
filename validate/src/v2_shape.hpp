// The structure of a version-2 case (Shape) and how a shape becomes a case inside a kernel's declared
// region. Shared by v2_generators.cpp (drawn cases and edge cases); defined in v2_shape.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "symbreak/rng.hpp"
#include "symbreak/validate/capabilities.hpp"
#include "symbreak/validate/op.hpp"

namespace symbreak::validate::v2 {

inline bool has_causal(MaskMode m) { return m == MaskMode::causal || m == MaskMode::causal_and_explicit; }
inline bool has_explicit(MaskMode m) { return m == MaskMode::explicit_mask || m == MaskMode::causal_and_explicit; }

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

// A case from a shape, inside the region; nullopt when the shape cannot be made to fit. Without a
// declared causal alignment, `square_if_unaligned` makes a causal or windowed shape square instead of
// giving up.
std::optional<AttentionOp> settle(Shape s, const Capabilities& caps, bool backward, bool square_if_unaligned = true);

// The version-1 case every property can fall back to (inside any region).
AttentionOp plain_case(const Capabilities& caps, bool backward, std::uint64_t seed);

// GQA-PERM's transform: the KV heads shuffled, each carrying its group of query heads along, and
// the query heads shuffled inside each group; perm[h] is the old query head that becomes head h.
// Never the identity when there are two heads (then both levels are reversed instead).
std::vector<int> grouped_head_permutation(const AttentionOp& op, Rng& rng);

// The capabilities a case is drawn from: under empty-rows=nan the backward gets no row without a key
// (a NaN row's gradients are NaN throughout dK and dV: nothing left to check).
Capabilities drawn_from(const Capabilities& declared, bool backward);

}  // namespace symbreak::validate::v2
