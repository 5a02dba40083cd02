#include "symbreak/validate/capabilities.hpp"

#include <cmath>
#include <stdexcept>

#include "symbreak/text.hpp"

namespace symbreak::validate {

std::string_view to_string(MaskMode mode) {
  switch (mode) {
    case MaskMode::none: return "none";
    case MaskMode::causal: return "causal";
    case MaskMode::explicit_mask: return "explicit";
    case MaskMode::causal_and_explicit: return "causal+explicit";
  }
  return "?";
}

MaskMode mask_mode_of(const AttentionOp& op) {
  if (op.causal) return op.mask.empty() ? MaskMode::causal : MaskMode::causal_and_explicit;
  return op.mask.empty() ? MaskMode::none : MaskMode::explicit_mask;
}

RegionHint beyond_common_region(const AttentionOp& op) {
  RegionHint h;
  const auto add = [&h](const std::string& used, const std::string& word) {
    h.used += (h.used.empty() ? "" : ", ") + used;
    if (h.words.find(word) == std::string::npos) h.words += (h.words.empty() ? "" : " ") + word;
  };
  const float standard = 1.0f / std::sqrt(static_cast<float>(op.d_head));
  if (op.scale != standard)
    add("scale " + text::shortest(op.scale) + " (not 1/√d_head = " + text::shortest(standard) + ")", "scale=default");
  if (op.d_v != op.d_head) add("d_v " + std::to_string(op.d_v) + " ≠ d_head " + std::to_string(op.d_head), "dv=dhead");
  if (op.n_q != op.n_k) add("n_q " + std::to_string(op.n_q) + " ≠ n_k " + std::to_string(op.n_k), "square");
  const MaskMode mode = mask_mode_of(op);
  if (mode == MaskMode::explicit_mask || mode == MaskMode::causal_and_explicit)
    add("an explicit mask", "the mask modes it supports (none, causal)");
  else if (mode == MaskMode::none)
    add("no mask", "causal (if that is the only mask it supports)");
  return h;
}

bool Capabilities::supports(MaskMode mode) const {
  switch (mode) {
    case MaskMode::none: return mask_none;
    case MaskMode::causal: return mask_causal;
    case MaskMode::explicit_mask: return mask_explicit;
    case MaskMode::causal_and_explicit: return mask_causal && mask_explicit;
  }
  return false;
}

std::vector<MaskMode> Capabilities::mask_modes() const {
  std::vector<MaskMode> out;
  for (MaskMode m : {MaskMode::none, MaskMode::causal, MaskMode::explicit_mask, MaskMode::causal_and_explicit})
    if (supports(m)) out.push_back(m);
  return out;
}

namespace {

// Does the causal condition or a window fall at a position that depends on the alignment?
bool aligned_cross(const AttentionOp& op) {
  if (!op.causal && !op.windowed() && op.alibi_slopes.empty()) return false;
  for (int b = 0; b < op.batch; ++b)
    if (op.kv_len(b) != op.n_q) return true;
  return false;
}

bool has_empty_row(const AttentionOp& op) {
  for (int b = 0; b < op.batch; ++b)
    for (int h = 0; h < op.heads; ++h)
      for (int i = 0; i < op.n_q; ++i)
        if (op.row_empty(b, h, i)) return true;
  return false;
}

}  // namespace

std::string v2_words_of(const AttentionOp& op) {
  std::string s;
  const auto add = [&s](const char* w) { s += (s.empty() ? "" : " ") + std::string(w); };
  if (aligned_cross(op) && op.causal) add(op.alignment == Alignment::bottom_right ? "causal=bottom-right" : "causal=top-left");
  else if (aligned_cross(op) && op.alignment == Alignment::bottom_right) add("causal=bottom-right");
  if (op.kv_heads() != op.heads) add("gqa");
  if (op.windowed()) add("window");
  if (!op.kv_lens.empty()) add("padding");
  if (op.mask_per_head) add("mask=per-head");
  if (has_empty_row(op)) add(op.empty_rows_nan ? "empty-rows=nan" : "empty-rows=zero");
  if (op.softcap != 0) add("softcap");
  if (!op.bias.empty()) add("bias");
  if (!op.alibi_slopes.empty()) add("alibi");
  if (op.dtype == Dtype::f16) add("dtype=f16");
  if (op.dtype == Dtype::bf16) add("dtype=bf16");
  return s;
}

unsigned Capabilities::features() const {
  return (align_top_left ? SYMBREAK_FEATURE_ALIGN_TOP_LEFT : 0u) | (align_bottom_right ? SYMBREAK_FEATURE_ALIGN_BOTTOM_RIGHT : 0u) |
         (gqa ? SYMBREAK_FEATURE_GQA : 0u) | (window ? SYMBREAK_FEATURE_WINDOW : 0u) | (padding ? SYMBREAK_FEATURE_PADDING : 0u) |
         (mask_per_head ? SYMBREAK_FEATURE_MASK_PER_HEAD : 0u) |
         (empty_rows ? (empty_rows_nan ? SYMBREAK_FEATURE_EMPTY_ROWS_NAN : SYMBREAK_FEATURE_EMPTY_ROWS) : 0u) |
         (layout_bnhd ? SYMBREAK_FEATURE_STRIDES : 0u) | (deterministic ? SYMBREAK_FEATURE_DETERMINISTIC : 0u) |
         (masked_finite ? SYMBREAK_FEATURE_MASKED_FINITE : 0u) | (softcap ? SYMBREAK_FEATURE_SOFTCAP : 0u) |
         (bias ? SYMBREAK_FEATURE_BIAS : 0u) | (alibi ? SYMBREAK_FEATURE_ALIBI : 0u) |
         (dtype == Dtype::f16 ? SYMBREAK_FEATURE_F16 : 0u) | (dtype == Dtype::bf16 ? SYMBREAK_FEATURE_BF16 : 0u);
}

bool Capabilities::uses_v2() const {
  return align_top_left || align_bottom_right || gqa || window || padding || mask_per_head || empty_rows || layout_bnhd || softcap ||
         bias || alibi || dtype != Dtype::f32;
}

bool Capabilities::allows(const AttentionOp& op) const {
  const auto within = [](int value, int limit) { return limit <= 0 || value <= limit; };
  if (aligned_cross(op) && !(op.alignment == Alignment::bottom_right ? align_bottom_right : align_top_left)) return false;
  if ((op.kv_heads() != op.heads && !gqa) || (op.windowed() && !window) || (!op.kv_lens.empty() && !padding) ||
      (op.mask_per_head && !mask_per_head) || (has_empty_row(op) && (!empty_rows || op.empty_rows_nan != empty_rows_nan)) ||
      (op.softcap != 0 && !softcap) || (!op.bias.empty() && !bias) || (!op.alibi_slopes.empty() && !alibi) || op.dtype != dtype)
    return false;
  const bool square = op.n_q == op.n_k || (op.causal && aligned_cross(op));  // an aligned causal op is declared by alignment
  return supports(mask_mode_of(op)) && (cross || square) && (dv_differs || op.d_v == op.d_head) &&
         (any_scale || op.scale == 1.0f / std::sqrt(static_cast<float>(op.d_head))) && within(op.batch, max_batch) &&
         within(op.heads, max_heads) && within(op.n_q, max_n) && within(op.n_k, max_n) && within(op.d_head, max_d) &&
         within(op.d_v, max_d) && (!op.backward() || backward);
}

std::string Capabilities::text() const {
  std::string masks;
  for (MaskMode m : {MaskMode::none, MaskMode::causal, MaskMode::explicit_mask})
    if (supports(m)) masks += (masks.empty() ? "" : ", ") + std::string(to_string(m));
  std::string s = "masks " + (masks.empty() ? std::string("(none supported)") : masks) + "; " +
                  (cross ? "n_q != n_k" : "n_q == n_k only") + "; " + (any_scale ? "any scale" : "scale 1/sqrt(d_head) only") +
                  "; " + (dv_differs ? "d_v != d_head" : "d_v == d_head only") + "; " +
                  (backward ? "forward and backward" : "forward only") + (deterministic ? "; deterministic" : "") +
                  (masked_finite ? "; masked K/V assumed finite" : "");
  if (uses_v2()) s += "; version 2: " + v2_words();
  const auto limit = [&s](const char* name, int v) {
    if (v > 0) s += "; " + std::string(name) + " <= " + std::to_string(v);
  };
  limit("batch", max_batch);
  limit("heads", max_heads);
  limit("n", max_n);
  limit("d", max_d);
  return s;
}

std::string Capabilities::words() const {
  std::string masks;
  for (MaskMode m : {MaskMode::none, MaskMode::causal, MaskMode::explicit_mask})
    if (supports(m)) masks += (masks.empty() ? "" : ",") + std::string(to_string(m));
  std::string s = masks + (cross ? " cross" : " square") + (any_scale ? " scale=any" : " scale=default") +
                  (dv_differs ? " dv=any" : " dv=dhead") + (backward ? " backward" : " no-backward") +
                  (deterministic ? " deterministic" : "") + (masked_finite ? " masked-finite" : "");
  if (uses_v2()) s += " " + v2_words();
  for (const auto& [name, v] : {std::pair{"max-batch", max_batch}, {"max-heads", max_heads}, {"max-n", max_n}, {"max-d", max_d}})
    if (v > 0) s += " " + std::string(name) + "=" + std::to_string(v);
  return s;
}

std::string Capabilities::v2_words() const {
  std::string s;
  const auto add = [&s](bool on, const char* w) {
    if (on) s += (s.empty() ? "" : " ") + std::string(w);
  };
  add(align_top_left, "causal=top-left");
  add(align_bottom_right, "causal=bottom-right");
  add(gqa, "gqa");
  add(window, "window");
  add(padding, "padding");
  add(mask_per_head, "mask=per-head");
  add(empty_rows && !empty_rows_nan, "empty-rows=zero");
  add(empty_rows_nan, "empty-rows=nan");
  add(softcap, "softcap");
  add(bias, "bias");
  add(alibi, "alibi");
  add(layout_bnhd, "layout=bnhd");
  add(dtype == Dtype::f16, "dtype=f16");
  add(dtype == Dtype::bf16, "dtype=bf16");
  return s;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!word.empty()) out.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(word);
  return out;
}

void Capabilities::apply(const std::vector<std::string>& words, std::string_view source) {
  bool masks_named = false, empty_rows_named = false;
  std::string dtype_word;  // the dtype= word seen, if any (a kernel has one dtype per validation)
  const auto fail = [&](const std::string& word, const std::string& why) {
    throw std::invalid_argument(std::string(source) + ": \"" + word + "\" " + why +
                                " (allowed: none, causal, explicit, square, cross, scale=default, scale=any, dv=dhead, dv=any, "
                                "backward, no-backward, deterministic, masked-finite, max-batch=N, max-heads=N, max-n=N, max-d=N; "
                                "version 2: causal=top-left, causal=bottom-right, gqa, window, padding, mask=per-head, "
                                "empty-rows=zero, empty-rows=nan, softcap, bias, alibi, layout=bnhd, layout=bhnd, dtype=f32, dtype=f16, "
                                "dtype=bf16)");
  };
  const auto no_value = [&](const std::string& w, const char* name) {
    if (w.starts_with(std::string(name) + "=")) fail(w, "takes no value (write " + std::string(name) + ")");
  };
  for (const std::string& w : words) {
    no_value(w, "gqa");
    no_value(w, "window");
    no_value(w, "padding");
    no_value(w, "softcap");
    no_value(w, "bias");
    no_value(w, "alibi");
    if (w == "none" || w == "causal" || w == "explicit" || w == "causal=top-left" || w == "causal=bottom-right") {
      if (!masks_named) mask_none = mask_causal = mask_explicit = false;
      masks_named = true;
      (w == "none" ? mask_none : w == "explicit" ? mask_explicit : mask_causal) = true;
      if (w == "causal=top-left") align_top_left = true;
      if (w == "causal=bottom-right") align_bottom_right = true;
      if (align_top_left && align_bottom_right)
        fail(w, "contradicts the other alignment (a kernel aligns its causal mask one way: declare causal=top-left or "
                "causal=bottom-right)");
    } else if (w.starts_with("causal=")) fail(w, "is not an alignment (causal=top-left or causal=bottom-right)");
    else if (w == "gqa") gqa = true;
    else if (w == "window") window = true;
    else if (w == "padding") padding = true;
    else if (w == "mask=per-head") mask_per_head = true;
    else if (w == "mask=shared") mask_per_head = false;
    else if (w.starts_with("mask=")) fail(w, "is not a mask kind (mask=per-head or mask=shared)");
    else if (w == "empty-rows=zero" || w == "empty-rows=nan") {
      if (empty_rows_named && empty_rows_nan != (w == "empty-rows=nan"))
        fail(w, "contradicts the other empty-rows word (a row with no visible key comes out zero or NaN, not both)");
      empty_rows = empty_rows_named = true;
      empty_rows_nan = w == "empty-rows=nan";
    } else if (w.starts_with("empty-rows")) fail(w, "is not a result for empty rows (empty-rows=zero or empty-rows=nan)");
    else if (w == "layout=bnhd") layout_bnhd = true;
    else if (w == "layout=bhnd") layout_bnhd = false;
    else if (w.starts_with("layout=")) fail(w, "is not a layout (layout=bhnd or layout=bnhd)");
    else if (w == "softcap") softcap = true;
    else if (w == "bias") bias = true;
    else if (w == "alibi") alibi = true;
    else if (w == "dtype=f32" || w == "dtype=f16" || w == "dtype=bf16") {
      if (!dtype_word.empty() && dtype_word != w)
        fail(w, "contradicts " + dtype_word + " (a validation runs one dtype: validate each dtype separately)");
      dtype_word = w;
      dtype = w == "dtype=f16" ? Dtype::f16 : w == "dtype=bf16" ? Dtype::bf16 : Dtype::f32;
    } else if (w.starts_with("dtype")) fail(w, "is not a dtype (dtype=f32, dtype=f16 or dtype=bf16)");
    else if (w == "square") cross = false;
    else if (w == "cross") cross = true;
    else if (w == "scale=default") any_scale = false;
    else if (w == "scale=any") any_scale = true;
    else if (w == "dv=dhead") dv_differs = false;
    else if (w == "dv=any") dv_differs = true;
    else if (w == "backward") backward = true;
    else if (w == "no-backward") backward = false;
    else if (w == "deterministic") deterministic = true;
    else if (w == "masked-finite") masked_finite = true;
    else if (w.starts_with("max-")) {
      const std::size_t eq = w.find('=');
      if (eq == std::string::npos) fail(w, "needs a value");
      const std::string key = w.substr(0, eq), value = w.substr(eq + 1);
      int n = 0;
      try {
        std::size_t used = 0;
        n = std::stoi(value, &used);
        if (used != value.size() || n < 0) throw std::invalid_argument("");
      } catch (const std::exception&) {
        fail(w, "needs a non-negative whole number");
      }
      if (key == "max-batch") max_batch = n;
      else if (key == "max-heads") max_heads = n;
      else if (key == "max-n") max_n = n;
      else if (key == "max-d") max_d = n;
      else fail(w, "is not a known limit");
    } else {
      fail(w, "is not a capability");
    }
  }
  if (!mask_none && !mask_causal && !mask_explicit) fail("", "leaves no mask mode");
  if (gqa && max_heads == 1) fail("gqa", "contradicts max-heads=1 (grouped heads need at least 2 query heads)");
  if (mask_per_head && !mask_explicit) fail("mask=per-head", "needs the explicit mask mode");
}

symbreak_attention_caps Capabilities::abi_defaults() {
  symbreak_attention_caps c{};
  c.mask_modes = SYMBREAK_MASK_NONE | SYMBREAK_MASK_CAUSAL | SYMBREAK_MASK_EXPLICIT;
  c.cross = c.any_scale = c.dv_differs = 1;
  return c;
}

Capabilities Capabilities::from_abi(const symbreak_attention_caps& a, bool backward) {
  Capabilities c;
  c.mask_none = a.mask_modes & SYMBREAK_MASK_NONE;
  c.mask_causal = a.mask_modes & SYMBREAK_MASK_CAUSAL;
  c.mask_explicit = a.mask_modes & SYMBREAK_MASK_EXPLICIT;
  c.cross = a.cross != 0;
  c.any_scale = a.any_scale != 0;
  c.dv_differs = a.dv_differs != 0;
  c.max_batch = a.max_batch;
  c.max_heads = a.max_heads;
  c.max_n = a.max_n;
  c.max_d = a.max_d;
  c.backward = backward;
  return c;
}

Capabilities Capabilities::from_abi_v2(const symbreak_attention_caps_v2& a, bool backward) {
  Capabilities c = from_abi(a.v1, backward);
  const unsigned f = a.features;
  c.align_top_left = f & SYMBREAK_FEATURE_ALIGN_TOP_LEFT;
  c.align_bottom_right = f & SYMBREAK_FEATURE_ALIGN_BOTTOM_RIGHT;
  c.gqa = f & SYMBREAK_FEATURE_GQA;
  c.window = f & SYMBREAK_FEATURE_WINDOW;
  c.padding = f & SYMBREAK_FEATURE_PADDING;
  c.mask_per_head = f & SYMBREAK_FEATURE_MASK_PER_HEAD;
  c.empty_rows_nan = f & SYMBREAK_FEATURE_EMPTY_ROWS_NAN;
  c.empty_rows = (f & SYMBREAK_FEATURE_EMPTY_ROWS) || c.empty_rows_nan;
  c.layout_bnhd = f & SYMBREAK_FEATURE_STRIDES;
  c.deterministic = f & SYMBREAK_FEATURE_DETERMINISTIC;
  c.masked_finite = f & SYMBREAK_FEATURE_MASKED_FINITE;
  c.softcap = f & SYMBREAK_FEATURE_SOFTCAP;
  c.bias = f & SYMBREAK_FEATURE_BIAS;
  c.alibi = f & SYMBREAK_FEATURE_ALIBI;
  if ((f & SYMBREAK_FEATURE_F16) && (f & SYMBREAK_FEATURE_BF16))
    throw std::invalid_argument("symbreak_attention_capabilities_v2 sets both SYMBREAK_FEATURE_F16 and SYMBREAK_FEATURE_BF16: "
                                "a validation runs one dtype (declare one, or override with --supports dtype=...)");
  c.dtype = (f & SYMBREAK_FEATURE_F16) ? Dtype::f16 : (f & SYMBREAK_FEATURE_BF16) ? Dtype::bf16 : Dtype::f32;
  return c;
}

}  // namespace symbreak::validate
