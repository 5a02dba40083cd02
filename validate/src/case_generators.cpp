#include "case_generators.hpp"

#include <algorithm>
#include <cmath>

#include "symbreak/properties/generators.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::validate {
namespace {

namespace gen = properties::gen;

enum class SizeClass { small, odd, long_keys, single_key };
enum class MaskShape { random, band, one_per_row };
enum class ScaleKind { inverse_sqrt, random, tiny, large };
enum class Values { simple, normal, near_tie, huge_logits, below_floor, tiny };

struct Spec {
  int batch = 1, heads = 1, n_q = 1, n_k = 1, d_head = 1, d_v = 1;
  MaskMode mode = MaskMode::none;
  MaskShape shape = MaskShape::random;
  ScaleKind scale = ScaleKind::inverse_sqrt;
  Values values = Values::simple;
  std::uint64_t seed = 0;
  bool backward = false;
};

bool has_causal(MaskMode m) { return m == MaskMode::causal || m == MaskMode::causal_and_explicit; }
bool has_explicit(MaskMode m) { return m == MaskMode::explicit_mask || m == MaskMode::causal_and_explicit; }

// The spec moved inside the region: square when the kernel or the mask needs it, the default scale,
// d_v = d_head, sizes within the limits.
Spec within(Spec s, const Capabilities& caps, bool square) {
  const auto clamp = [](int v, int limit) { return limit > 0 ? std::min(v, limit) : v; };
  s.batch = clamp(s.batch, caps.max_batch);
  s.heads = clamp(s.heads, caps.max_heads);
  s.n_q = clamp(s.n_q, caps.max_n);
  s.n_k = clamp(s.n_k, caps.max_n);
  s.d_head = clamp(s.d_head, caps.max_d);
  s.d_v = clamp(s.d_v, caps.max_d);
  if (!caps.dv_differs) s.d_v = s.d_head;
  if (!caps.any_scale) s.scale = ScaleKind::inverse_sqrt;
  if (square || !caps.cross || has_causal(s.mode)) s.n_k = s.n_q;
  return s;
}

AttentionOp materialize(const Spec& s) {
  AttentionOp op;
  op.batch = s.batch;
  op.heads = s.heads;
  op.n_q = s.n_q;
  op.n_k = s.n_k;
  op.d_head = s.d_head;
  op.d_v = s.d_v;
  op.causal = has_causal(s.mode);
  Rng rng(s.seed);
  switch (s.scale) {
    case ScaleKind::inverse_sqrt: op.scale = 1.0f / std::sqrt(static_cast<float>(op.d_head)); break;
    case ScaleKind::random: op.scale = static_cast<float>(0.05 + 4 * rng.uniform()); break;
    case ScaleKind::tiny: op.scale = 1e-3f; break;
    case ScaleKind::large: op.scale = 30.0f; break;
  }
  const auto fill = [&](std::vector<float>& x, std::size_t n, double scale) {
    x.resize(n);
    for (float& v : x) {
      if (s.values == Values::simple) v = static_cast<float>(static_cast<int>(rng.below(3)) - 1);
      else v = static_cast<float>(rng.normal() * scale);
    }
  };
  const double logit_scale = std::sqrt(1e6 / (std::abs(op.scale) * op.d_head));
  const double qk = s.values == Values::tiny ? 1e-20 : s.values == Values::huge_logits ? logit_scale : 1.0;
  fill(op.q, op.q_size(), s.values == Values::near_tie ? 1e-4 : qk);
  fill(op.k, op.k_size(), qk);
  fill(op.v, op.v_size(), s.values == Values::tiny ? 1e-20 : 1.0);
  if (s.values == Values::below_floor) {
    // Every score near -20000: kernels that start their running max at a finite constant (-10000, say) break here.
    for (std::size_t i = 0; i < op.q.size(); i += op.d_head) op.q[i] = 100;
    for (std::size_t i = 0; i < op.k.size(); i += op.d_head) op.k[i] = -200 / op.scale;
  }
  if (has_explicit(s.mode)) {
    op.mask.assign(static_cast<std::size_t>(op.n_q) * op.n_k, 0);
    const double density = 0.2 + 0.6 * rng.uniform();
    const int width = 1 + static_cast<int>(rng.below(3));
    for (int i = 0; i < op.n_q; ++i) {
      for (int j = 0; j < op.n_k; ++j) {
        bool on = false;
        if (s.shape == MaskShape::random) on = rng.uniform() < density;
        else if (s.shape == MaskShape::band) on = std::abs(i - j) <= width;
        op.mask[static_cast<std::size_t>(i) * op.n_k + j] = on;
      }
      // Never a query without a visible key: give it one it may attend under the causal flag too.
      const int limit = op.causal ? i + 1 : op.n_k;
      bool any = false;
      for (int j = 0; j < limit; ++j) any = any || op.mask[static_cast<std::size_t>(i) * op.n_k + j];
      if (!any) op.mask[static_cast<std::size_t>(i) * op.n_k + static_cast<int>(rng.below(limit))] = 1;
    }
  }
  if (s.backward) {
    op.d_out.resize(op.out_size());
    for (float& g : op.d_out)
      g = s.values == Values::simple ? static_cast<float>(static_cast<int>(rng.below(3)) - 1) : static_cast<float>(rng.normal());
  }
  return op;
}

// Masks key `j` for every query (BWD-MASK's "a key no query may attend"), giving a query that saw
// only j another key; leaves the op as it was when that is impossible (query 0 under the causal flag
// sees key 0 alone).
void blind_key(AttentionOp& op, int j) {
  if (op.mask.empty() || op.n_k < 2) return;
  std::vector<unsigned char> mask = op.mask;
  for (int i = 0; i < op.n_q; ++i) mask[static_cast<std::size_t>(i) * op.n_k + j] = 0;
  for (int i = 0; i < op.n_q; ++i) {
    const int limit = op.causal ? i + 1 : op.n_k;
    bool any = false;
    for (int c = 0; c < limit; ++c) any = any || mask[static_cast<std::size_t>(i) * op.n_k + c];
    if (any) continue;
    int other = -1;
    for (int c = 0; c < limit && other < 0; ++c)
      if (c != j) other = c;
    if (other < 0) return;
    mask[static_cast<std::size_t>(i) * op.n_k + other] = 1;
  }
  op.mask = std::move(mask);
}

}  // namespace

bool declares_feature(const Capabilities& caps, std::string_view feature) {
  if (feature.empty()) return true;
  if (feature == "align") return (caps.align_top_left || caps.align_bottom_right) && caps.mask_causal;
  if (feature == "gqa" || feature == "gqa-perm") return caps.gqa && (caps.max_heads == 0 || caps.max_heads >= 2);
  if (feature == "window") return caps.window;
  if (feature == "softcap") return caps.softcap;
  if (feature == "bias") return caps.bias;
  if (feature == "alibi") return caps.alibi;
  if (feature == "padding") return caps.padding;
  if (feature == "empty-rows")
    return caps.empty_rows && (caps.mask_explicit || (caps.align_bottom_right && caps.mask_causal) ||
                               (caps.window && (caps.align_top_left || caps.align_bottom_right)));
  return false;
}

std::vector<MaskMode> property_modes(const OpProperty& p, const Capabilities& caps) {
  std::vector<MaskMode> out;
  if (!declares_feature(caps, p.feature)) return out;
  if (p.pass == Pass::backward && p.feature == "empty-rows" && caps.empty_rows_nan) return out;  // NaN rows: no gradients to check
  for (MaskMode m : p.modes)
    if (caps.supports(m)) out.push_back(m);
  return out;
}

namespace {

rc::Gen<OpCase> float32_case_gen(const OpProperty& p, const Capabilities& caps) {
  if (!p.feature.empty()) return v2_case_gen(p, caps);
  const std::vector<MaskMode> modes = property_modes(p, caps);
  const bool robust = p.robust, square = p.needs_square, backward = p.pass == Pass::backward;
  const int max_n = backward ? 16 : 24;
  const auto spec = rc::gen::map(
      rc::gen::tuple(gen::scaled(1, 3), gen::scaled(1, 3), gen::scaled(1, max_n), gen::scaled(1, max_n), gen::scaled(1, 16),
                     rc::gen::element(0, 1), gen::scaled(1, 16), rc::gen::elementOf(modes),
                     rc::gen::element(MaskShape::random, MaskShape::band, MaskShape::one_per_row),
                     rc::gen::element(ScaleKind::inverse_sqrt, ScaleKind::random, ScaleKind::tiny, ScaleKind::large),
                     robust ? rc::gen::element(Values::simple, Values::normal, Values::near_tie, Values::huge_logits,
                                               Values::below_floor, Values::tiny)
                            : rc::gen::element(Values::simple, Values::normal),
                     robust ? rc::gen::element(SizeClass::small, SizeClass::odd, SizeClass::long_keys, SizeClass::single_key)
                            : rc::gen::just(SizeClass::small),
                     rc::gen::inRange<std::uint32_t>(0, 1u << 31)),
      [caps, square, backward](const auto& t) {
        Spec s;
        std::tie(s.batch, s.heads, s.n_q, s.n_k, s.d_head, std::ignore, s.d_v, s.mode, s.shape, s.scale, s.values, std::ignore,
                 s.seed) = t;
        s.backward = backward;
        if (std::get<5>(t) == 0) s.d_v = s.d_head;  // d_v ≠ d_head only when drawn so
        switch (std::get<11>(t)) {
          case SizeClass::small: break;
          case SizeClass::odd:  // sizes that are not multiples of 4, 8, 16 or 64
            s.n_q = 17 + 16 * (s.n_q % 4);
            s.n_k = 33 + 32 * (s.n_k % 3);
            s.d_head = 3 + 2 * (s.d_head % 8);
            break;
          case SizeClass::long_keys:  // past any tile size
            s.batch = s.heads = 1;
            if (has_causal(s.mode)) {
              s.n_q = backward ? 130 : 257;
            } else {
              s.n_q = std::min(s.n_q, 4);
              s.n_k = backward ? 160 : (s.n_k % 2 ? 1024 : 513);
            }
            break;
          case SizeClass::single_key:
            s.n_k = 1;
            if (has_causal(s.mode)) s.n_q = 1;
            break;
        }
        return within(s, caps, square);
      });
  const std::string name(p.name);
  const bool blind = p.full_mask_column;
  return rc::gen::mapcat(spec, [name, blind](const Spec& s) {
    const AttentionOp op = materialize(s);
    const int count = name == "KV-PERM"  ? op.n_k
                      : name == "Q-PERM" ? op.n_q
                      : name == "HEADS"  ? op.heads
                      : name == "BATCH"  ? op.batch
                                         : 0;
    const bool causal_change = name == "CAUSAL" || name == "BWD-CAUSAL" || (name == "MASKED-INDEPENDENCE" && op.causal);
    const int positions = causal_change ? std::max(1, op.n_k - 1) : op.n_k;
    return rc::gen::map(rc::gen::tuple(gen::permutation(count, count), rc::gen::inRange(0, positions),
                                       rc::gen::inRange<std::uint32_t>(0, 1u << 31)),
                        [op, causal_change, blind](const std::tuple<Permutation, int, std::uint32_t>& t) {
                          OpCase c{op, {}};
                          c.transform.permutation = std::get<0>(t);
                          c.transform.position = std::get<1>(t) + (causal_change ? 1 : 0);
                          c.transform.seed = std::get<2>(t);
                          if (blind && c.transform.seed % 2 == 0) blind_key(c.op, c.transform.position);
                          return c;
                        });
  });
}

std::vector<OpCase> float32_edge_cases(const OpProperty& p, const Capabilities& caps) {
  if (!p.feature.empty()) return v2_edge_cases(p, caps);
  std::vector<OpCase> out;
  const bool backward = p.pass == Pass::backward;
  for (MaskMode mode : property_modes(p, caps)) {
    const bool causal = has_causal(mode);
    const auto add = [&](Spec s) {
      s.mode = mode;
      s.backward = backward;
      out.push_back({materialize(within(s, caps, p.needs_square)), {}});
    };
    Spec s;
    s.values = Values::normal;
    s.n_q = causal ? 1 : 3;
    s.n_k = 1;
    add(s);  // one key
    s = Spec{};
    s.values = Values::huge_logits;
    s.n_q = 5;
    s.n_k = 7;
    s.d_head = 4;
    add(s);  // logits of order ±1e6
    s.values = Values::below_floor;
    s.scale = ScaleKind::random;
    s.seed = 3;
    add(s);  // every score near -20000
    s.n_q = s.n_k = 1;
    add(s);  // ... with a single key, where a finite running-max start shows at once
    s = Spec{};
    s.values = Values::tiny;
    s.n_q = 4;
    s.n_k = 9;
    s.d_head = 3;
    add(s);
    s = Spec{};
    s.values = Values::normal;
    s.n_q = causal ? (backward ? 130 : 257) : (backward ? 96 : 1024);
    s.n_k = backward ? 160 : 160;
    s.d_head = 2;
    s.d_v = 3;
    s.seed = 7;
    add(s);  // long: past any tile size; d_v ≠ d_head
    s = Spec{};
    s.values = Values::normal;
    s.batch = 2;
    s.heads = 3;
    s.n_q = 33;
    s.n_k = 65;
    s.d_head = 17;
    s.d_v = 5;
    s.scale = ScaleKind::large;
    s.seed = 11;
    add(s);  // odd sizes, a large scale
    if (caps.any_scale) {
      s = Spec{};
      s.values = Values::normal;
      s.n_q = 6;
      s.n_k = 6;
      s.d_head = 8;
      s.scale = ScaleKind::tiny;
      s.seed = 13;
      add(s);  // a tiny scale: nearly uniform attention
    }
  }
  return out;
}

// A case in the kernel's dtype: its inputs rounded to it (AttentionOp::round_to_dtype).
OpCase in_dtype(OpCase c, Dtype dtype) {
  c.op.dtype = dtype;
  c.op.round_to_dtype();
  return c;
}

// The extreme values of a dtype (issue 17 §1), for the robust properties of an f16/bf16 kernel:
//  - scores near the edge of f16's range (|s| ≈ 3·10^4 for f16; ≈ 2·10^5 for bf16, beyond f16's 65504),
//    with the unscaled q·k eight times larger (d = 64): a kernel that forms q·k in 16 bits before
//    scaling (metal-flash-attention#8), or keeps bf16 scores in an f16 buffer (ggml#1536), overflows;
//  - uniform rows (q = 0), whose exact answer is the mean of the visible values, in 16-bit rounding.
std::vector<OpCase> dtype_edge_cases(const OpProperty& p, const Capabilities& caps) {
  std::vector<OpCase> out;
  if (caps.dtype == Dtype::f32 || !p.robust || !p.feature.empty()) return out;
  const bool backward = p.pass == Pass::backward;
  for (MaskMode mode : property_modes(p, caps)) {
    const auto add = [&](Spec s, double logit, bool uniform) {
      s.mode = mode;
      s.backward = backward;
      AttentionOp op = materialize(within(s, caps, p.needs_square));
      // q·k has standard deviation σ²·√d, so σ² = logit / √d puts scale·q·k (scale = 1/√d) near ±logit.
      const double sigma = std::sqrt(logit / std::sqrt(static_cast<double>(op.d_head)));
      Rng rng(s.seed + 101);
      for (float& x : op.q) x = uniform ? 0.0f : static_cast<float>(rng.normal() * sigma);
      for (float& x : op.k) x = static_cast<float>(rng.normal() * sigma);
      out.push_back(in_dtype({std::move(op), {}}, caps.dtype));
    };
    Spec s;
    s.values = Values::normal;
    s.n_q = 5;
    s.n_k = 9;
    s.d_head = 64;
    s.d_v = 64;
    s.seed = 17;
    add(s, caps.dtype == Dtype::f16 ? 3e4 : 2e5, false);  // scores near (f16) or beyond (bf16) 65504
    s.n_q = 6;
    s.n_k = 7;
    s.d_head = 8;
    s.d_v = 8;
    s.seed = 19;
    add(s, 1.0, true);  // uniform rows: O = the mean of V, rounded
  }
  return out;
}

}  // namespace

rc::Gen<OpCase> case_gen(const OpProperty& p, const Capabilities& caps) {
  if (caps.dtype == Dtype::f32) return float32_case_gen(p, caps);
  return rc::gen::map(float32_case_gen(p, caps), [dtype = caps.dtype](OpCase c) { return in_dtype(std::move(c), dtype); });
}

std::vector<OpCase> edge_cases(const OpProperty& p, const Capabilities& caps) {
  std::vector<OpCase> out = float32_edge_cases(p, caps);
  if (caps.dtype == Dtype::f32) return out;
  for (OpCase& c : out) c = in_dtype(std::move(c), caps.dtype);
  for (OpCase& c : dtype_edge_cases(p, caps)) out.push_back(std::move(c));
  return out;
}

std::vector<std::string> skipped_kinds(const OpProperty& p, const Capabilities& caps) {
  std::vector<std::string> out;
  for (MaskMode m : p.modes)
    if (!caps.supports(m)) out.push_back(std::string(to_string(m)) + "-mask cases: not supported");
  if (!caps.cross && !p.needs_square) out.push_back("n_q != n_k: square only");
  if (!caps.any_scale) out.push_back("scales other than 1/sqrt(d_head): default scale only");
  if (!caps.dv_differs) out.push_back("d_v != d_head: not supported");
  if (caps.max_n > 0 && p.robust) out.push_back("sequences longer than " + std::to_string(caps.max_n) + ": beyond max-n");
  return out;
}

}  // namespace symbreak::validate
