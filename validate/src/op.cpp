#include "symbreak/validate/op.hpp"

#include "symbreak/text.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace symbreak::validate {

bool AttentionOp::visible(int b, int h, int i, int j) const {
  if (j >= kv_len(b)) return false;
  const int at = i + offset(b);  // the aligned query position
  if (causal && j > at) return false;
  if (window_left >= 0 && j < at - window_left) return false;
  if (window_right >= 0 && j > at + window_right) return false;
  if (!bias.empty() && bias[bias_index(h, i, j)] == -std::numeric_limits<float>::infinity())
    return false;
  if (mask.empty()) return true;
  const std::size_t row = mask_per_head ? (static_cast<std::size_t>(b) * heads + h) * n_q + i : static_cast<std::size_t>(i);
  return mask[row * n_k + j] != 0;
}

double AttentionOp::score_bias(int b, int h, int i, int j) const {
  if (!bias.empty()) return bias[bias_index(h, i, j)];
  if (!alibi_slopes.empty()) return -static_cast<double>(alibi_slopes[static_cast<std::size_t>(h)]) * std::abs(i + offset(b) - j);
  return 0;
}

bool AttentionOp::row_empty(int b, int h, int i) const {
  for (int j = 0; j < n_k; ++j)
    if (visible(b, h, i, j)) return false;
  return true;
}

bool AttentionOp::uses_v2() const {
  if (kv_heads() != heads || windowed() || !kv_lens.empty() || mask_per_head || (causal && n_q != n_k) || softcap != 0 ||
      biased() || dtype != Dtype::f32)
    return true;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < n_q; ++i)
        if (row_empty(b, h, i)) return true;
  return false;
}

AttentionMask AttentionOp::visibility() const {
  if (kv_heads() != heads || windowed() || !kv_lens.empty() || mask_per_head || (causal && n_q != n_k))
    throw std::logic_error("AttentionOp::visibility: a version-2 op has no visibility shared by batch and heads");
  AttentionMask m;
  m.causal = causal;
  m.allowed = mask;
  m.n_k = n_k;
  return m;
}

void AttentionOp::validate() const {
  if (batch < 1 || heads < 1 || n_q < 1 || n_k < 1 || d_head < 1 || d_v < 1)
    throw std::invalid_argument("attention op: every size must be at least 1 (" + shape_string() + ")");
  if (heads_kv < 0 || heads_kv > heads || heads % kv_heads() != 0)
    throw std::invalid_argument("attention op: heads_kv " + std::to_string(heads_kv) + " must divide heads " +
                                std::to_string(heads));
  if (q.size() != q_size() || k.size() != k_size() || v.size() != v_size())
    throw std::invalid_argument("attention op: q, k or v has the wrong number of elements for " + shape_string());
  const std::size_t mask_rows = mask_per_head ? static_cast<std::size_t>(batch) * heads * n_q : static_cast<std::size_t>(n_q);
  if (!mask.empty() && mask.size() != mask_rows * n_k)
    throw std::invalid_argument(mask_per_head ? "attention op: a per-head mask must be batch × heads × n_q × n_k"
                                              : "attention op: the mask must be n_q × n_k");
  if (mask_per_head && mask.empty()) throw std::invalid_argument("attention op: mask_per_head without a mask");
  if (!d_out.empty() && d_out.size() != out_size())
    throw std::invalid_argument("attention op: d_out must have batch × heads × n_q × d_v elements");
  if (dtype != Dtype::f32)
    for (const auto& [name, x] : {std::pair{"q", &q}, {"k", &k}, {"v", &v}, {"d_out", &d_out}})
      for (std::size_t e = 0; e < x->size(); ++e)
        if (!representable(dtype, (*x)[e]))
          throw std::invalid_argument("attention op: " + std::string(name) + "[" + std::to_string(e) + "] = " +
                                      text::shortest((*x)[e]) + " is not a " + std::string(to_string(dtype)) + " value");
  if (!std::isfinite(scale)) throw std::invalid_argument("attention op: the scale must be finite");
  if (!(softcap >= 0) || !std::isfinite(softcap))
    throw std::invalid_argument("attention op: softcap " + std::to_string(softcap) + " must be finite and >= 0 (0: none)");
  if (!bias.empty() && !alibi_slopes.empty())
    throw std::invalid_argument("attention op: a bias and ALiBi slopes together (a kernel takes one or the other)");
  if (!bias.empty()) {
    if (bias.size() != static_cast<std::size_t>(heads) * n_q * n_k)
      throw std::invalid_argument("attention op: the bias must be heads × n_q × n_k");
    for (std::size_t e = 0; e < bias.size(); ++e)
      if (std::isnan(bias[e]) || bias[e] == std::numeric_limits<float>::infinity())
        throw std::invalid_argument("attention op: bias element " + std::to_string(e) + " is " + std::to_string(bias[e]) +
                                    " (a bias is finite or -inf)");
  }
  if (!alibi_slopes.empty()) {
    if (alibi_slopes.size() != static_cast<std::size_t>(heads))
      throw std::invalid_argument("attention op: ALiBi needs one slope per head");
    for (std::size_t h = 0; h < alibi_slopes.size(); ++h)
      if (!std::isfinite(alibi_slopes[h]))
        throw std::invalid_argument("attention op: ALiBi slope " + std::to_string(h) + " is not finite");
    if (std::max(n_q, n_k) + std::abs(n_k - n_q) >= (1 << 24))
      throw std::invalid_argument("attention op: ALiBi distances must stay below 2^24");
  }
  if (window_left < -1 || window_right < -1)
    throw std::invalid_argument("attention op: a window side must be -1 (unbounded) or at least 0");
  if (!kv_lens.empty()) {
    if (kv_lens.size() != static_cast<std::size_t>(batch))
      throw std::invalid_argument("attention op: kv_lens must have one length per batch item");
    for (std::size_t b = 0; b < kv_lens.size(); ++b)
      if (kv_lens[b] < 1 || kv_lens[b] > n_k)
        throw std::invalid_argument("attention op: kv_lens[" + std::to_string(b) + "] = " + std::to_string(kv_lens[b]) +
                                    " is not in 1.." + std::to_string(n_k));
  }
  if (empty_rows) return;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < n_q; ++i)
        if (row_empty(b, h, i))
          throw std::invalid_argument("attention op: query " + std::to_string(i) + " (batch " + std::to_string(b) +
                                      ", head " + std::to_string(h) + ") sees no key");
}

symbreak_attention_problem AttentionOp::problem(float* out) const {
  symbreak_attention_problem p{};
  p.batch = batch;
  p.heads = heads;
  p.n_q = n_q;
  p.n_k = n_k;
  p.d_head = d_head;
  p.d_v = d_v;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.mask = mask.empty() ? nullptr : mask.data();
  p.causal = causal ? 1 : 0;
  p.scale = scale;
  p.out = out;
  return p;
}

symbreak_attention_backward_problem AttentionOp::backward_problem(const float* o, float* dq, float* dk, float* dv) const {
  symbreak_attention_backward_problem b{};
  b.forward = problem(const_cast<float*>(o));  // read-only in a backward call (attention_abi.h)
  b.d_out = d_out.data();
  b.d_q = dq;
  b.d_k = dk;
  b.d_v = dv;
  return b;
}

symbreak_attention_problem_v2 AttentionOp::problem_v2(float* out) const {
  symbreak_attention_problem_v2 p{};
  p.struct_size = sizeof p;
  p.batch = batch;
  p.heads = heads;
  p.heads_kv = kv_heads();
  p.n_q = n_q;
  p.n_k = n_k;
  p.d_head = d_head;
  p.d_v = d_v;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = out;
  const auto contiguous = [](long long* s, int heads_, int rows, int cols) {
    s[2] = cols;
    s[1] = static_cast<long long>(rows) * cols;
    s[0] = s[1] * heads_;
  };
  contiguous(p.q_strides, heads, n_q, d_head);
  contiguous(p.k_strides, kv_heads(), n_k, d_head);
  contiguous(p.v_strides, kv_heads(), n_k, d_v);
  contiguous(p.out_strides, heads, n_q, d_v);
  p.mask = mask.empty() ? nullptr : mask.data();
  p.mask_per_head = mask_per_head ? 1 : 0;
  p.causal = causal ? 1 : 0;
  p.alignment = alignment == Alignment::bottom_right ? SYMBREAK_ALIGN_BOTTOM_RIGHT : SYMBREAK_ALIGN_TOP_LEFT;
  p.window_left = window_left;
  p.window_right = window_right;
  p.kv_lens = kv_lens.empty() ? nullptr : kv_lens.data();
  p.scale = scale;
  p.softcap = softcap;
  p.bias = bias.empty() ? nullptr : bias.data();
  p.alibi_slopes = alibi_slopes.empty() ? nullptr : alibi_slopes.data();
  p.dtype = abi_code(dtype);
  return p;
}

void AttentionOp::round_to_dtype() {
  for (std::vector<float>* x : {&q, &k, &v, &d_out}) round_in_place(dtype, *x);
}

std::vector<float> read_strided(const float* src, const long long strides[3], int batch, int heads, int rows, int cols) {
  std::vector<float> out(static_cast<std::size_t>(batch) * heads * rows * cols);
  std::size_t at = 0;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r) {
        const float* row = src + b * strides[0] + h * strides[1] + r * strides[2];
        for (int c = 0; c < cols; ++c) out[at++] = row[c];
      }
  return out;
}

void write_strided(float* dst, const long long strides[3], const std::vector<float>& src, int batch, int heads, int rows,
                   int cols) {
  std::size_t at = 0;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r) {
        float* row = dst + b * strides[0] + h * strides[1] + r * strides[2];
        for (int c = 0; c < cols; ++c) row[c] = src[at++];
      }
}

std::vector<float> read_strided(Dtype dtype, const void* src, const long long strides[3], int batch, int heads, int rows, int cols) {
  if (!is16(dtype)) return read_strided(static_cast<const float*>(src), strides, batch, heads, rows, cols);
  std::vector<float> out(static_cast<std::size_t>(batch) * heads * rows * cols);
  std::size_t at = 0;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r) {
        const auto* row = static_cast<const std::uint16_t*>(src) + b * strides[0] + h * strides[1] + r * strides[2];
        for (int c = 0; c < cols; ++c) out[at++] = from_bits16(dtype, row[c]);
      }
  return out;
}

void write_strided(Dtype dtype, void* dst, const long long strides[3], const std::vector<float>& src, int batch, int heads, int rows,
                   int cols) {
  if (!is16(dtype)) return write_strided(static_cast<float*>(dst), strides, src, batch, heads, rows, cols);
  std::size_t at = 0;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r) {
        auto* row = static_cast<std::uint16_t*>(dst) + b * strides[0] + h * strides[1] + r * strides[2];
        for (int c = 0; c < cols; ++c) row[c] = to_bits16(dtype, src[at++]);
      }
}

AttentionOp op_from_problem(const symbreak_attention_problem_v2& p) {
  AttentionOp op;
  op.batch = p.batch;
  op.heads = p.heads;
  op.heads_kv = p.heads_kv == p.heads ? 0 : p.heads_kv;
  op.n_q = p.n_q;
  op.n_k = p.n_k;
  op.d_head = p.d_head;
  op.d_v = p.d_v;
  op.causal = p.causal != 0;
  op.scale = p.scale;
  op.softcap = p.softcap;
  op.alignment = p.alignment == SYMBREAK_ALIGN_BOTTOM_RIGHT ? Alignment::bottom_right : Alignment::top_left;
  op.window_left = p.window_left;
  op.window_right = p.window_right;
  op.mask_per_head = p.mask_per_head != 0;
  op.empty_rows = true;  // whatever the problem holds is computed (empty rows come out zero)
  if (p.kv_lens) op.kv_lens.assign(p.kv_lens, p.kv_lens + p.batch);
  if (p.bias) op.bias.assign(p.bias, p.bias + static_cast<std::size_t>(p.heads) * p.n_q * p.n_k);
  if (p.alibi_slopes) op.alibi_slopes.assign(p.alibi_slopes, p.alibi_slopes + p.heads);
  const int kvh = p.heads_kv > 0 ? p.heads_kv : p.heads;
  op.dtype = dtype_from_abi(p.dtype);
  op.q = read_strided(op.dtype, p.q, p.q_strides, p.batch, p.heads, p.n_q, p.d_head);
  op.k = read_strided(op.dtype, p.k, p.k_strides, p.batch, kvh, p.n_k, p.d_head);
  op.v = read_strided(op.dtype, p.v, p.v_strides, p.batch, kvh, p.n_k, p.d_v);
  if (p.mask) {
    const std::size_t rows = op.mask_per_head ? static_cast<std::size_t>(p.batch) * p.heads * p.n_q : static_cast<std::size_t>(p.n_q);
    op.mask.assign(p.mask, p.mask + rows * p.n_k);
  }
  return op;
}

std::string AttentionOp::shape_string() const {
  std::string s = "b=" + std::to_string(batch) + " h=" + std::to_string(heads);
  if (kv_heads() != heads) s += " h_kv=" + std::to_string(kv_heads());
  s += " n_q=" + std::to_string(n_q) + " n_k=" + std::to_string(n_k) + " d=" + std::to_string(d_head) +
       " d_v=" + std::to_string(d_v);
  if (causal) s += " causal";
  if ((causal || windowed()) && (n_q != n_k || !kv_lens.empty()))
    s += alignment == Alignment::bottom_right ? " bottom-right" : " top-left";
  if (windowed()) s += " window=(" + std::to_string(window_left) + "," + std::to_string(window_right) + ")";
  if (!kv_lens.empty()) {
    s += " kv_lens=";
    for (std::size_t b = 0; b < kv_lens.size(); ++b) s += (b ? "," : "") + std::to_string(kv_lens[b]);
  }
  if (!mask.empty()) s += mask_per_head ? " mask=per-head" : " mask";
  if (softcap != 0) s += " softcap=" + text::shortest(softcap);
  if (!bias.empty()) s += " bias";
  if (!alibi_slopes.empty()) s += " alibi";
  if (empty_rows) s += empty_rows_nan ? " empty-rows=nan" : " empty-rows";
  if (dtype != Dtype::f32) s += " " + std::string(to_string(dtype));
  if (!d_out.empty()) s += " backward";
  return s;
}

}  // namespace symbreak::validate
