// The attention op that third-party kernels implement, with the layouts of attention_abi.h:
//
//   O[b,h] = softmax(softcap(scale · Q[b,h] K[b,g(h)]ᵀ) + B[b,h] over the keys visible from each query) · V[b,g(h)]
//
// and, for the backward pass, the upstream gradient dO from which a kernel computes dQ, dK and dV.
// g(h) = h / (heads / heads_kv) (grouped-query heads, repeat-interleave). Visibility (visible()) is
// the conjunction of the key length, the causal condition and the window (both at the aligned query
// position i + offset(b)) and the explicit mask, exactly as attention_abi.h's version-2 section
// states. B is the additive bias of head h, or ALiBi's −slope_h·|i + offset(b) − j|; a −inf bias
// entry hides its key. A row with no visible key is zero (only where `empty_rows` allows such rows at all).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "symbreak/attention_abi.h"
#include "symbreak/validate/dtype.hpp"
#include "symbreak/layers.hpp"

namespace symbreak::validate {

enum class Alignment { top_left, bottom_right };

struct AttentionOp {
  int batch = 1, heads = 1, n_q = 1, n_k = 1, d_head = 1, d_v = 1;
  bool causal = false;
  float scale = 1;
  std::vector<float> q, k, v;       // q [batch][heads][n_q][d_head]; k, v [batch][kv_heads()][n_k][d]
  std::vector<unsigned char> mask;  // empty, [n_q][n_k], or [batch][heads][n_q][n_k] (mask_per_head); nonzero = visible
  std::vector<float> d_out;         // backward cases: dL/dO, [batch][heads][n_q][d_v]; empty otherwise
  // Version-2 features (attention_abi.h); the defaults are the version-1 op.
  int heads_kv = 0;                 // 0: heads (no grouping)
  Alignment alignment = Alignment::top_left;
  int window_left = -1, window_right = -1;  // -1: unbounded
  std::vector<int> kv_lens;         // empty, or [batch] key lengths in 1..n_k
  bool mask_per_head = false;
  bool empty_rows = false;          // rows with no visible key are allowed (and must come out zero)
  bool empty_rows_nan = false;      // ... and must come out NaN instead (the kernel's declared contract)
  float softcap = 0;                // > 0: scores s become softcap·tanh(s / softcap) before the mask
  std::vector<float> bias;          // empty, or [heads][n_q][n_k]: added after the softcap (−inf: the key is hidden)
  std::vector<float> alibi_slopes;  // empty, or [heads]: ALiBi (never together with bias)
  // The element type of q, k, v, out and the gradients at the kernel's boundary. q, k, v and d_out
  // hold values of that type exactly (as float32), so the exact reference sees what the kernel sees.
  Dtype dtype = Dtype::f32;

  int kv_heads() const { return heads_kv > 0 ? heads_kv : heads; }
  int kv_head_of(int h) const { return h / (heads / kv_heads()); }
  int kv_len(int b) const { return kv_lens.empty() ? n_k : kv_lens[static_cast<std::size_t>(b)]; }
  int offset(int b) const { return alignment == Alignment::bottom_right ? kv_len(b) - n_q : 0; }
  bool windowed() const { return window_left >= 0 || window_right >= 0; }
  bool biased() const { return !bias.empty() || !alibi_slopes.empty(); }
  std::size_t bias_index(int h, int i, int j) const { return (static_cast<std::size_t>(h) * n_q + i) * n_k + j; }
  // The exact additive bias of score (i, j) of batch b, head h: bias[h][i][j], or ALiBi's
  // −slope·|i + offset(b) − j| (exact in double: a float times an integer below 2^24), or 0.
  double score_bias(int b, int h, int i, int j) const;
  // Uses anything version 1 cannot express.
  bool uses_v2() const;
  bool visible(int b, int h, int i, int j) const;
  bool row_empty(int b, int h, int i) const;

  std::size_t q_size() const { return static_cast<std::size_t>(batch) * heads * n_q * d_head; }
  std::size_t k_size() const { return static_cast<std::size_t>(batch) * kv_heads() * n_k * d_head; }
  std::size_t v_size() const { return static_cast<std::size_t>(batch) * kv_heads() * n_k * d_v; }
  std::size_t out_size() const { return static_cast<std::size_t>(batch) * heads * n_q * d_v; }
  bool backward() const { return !d_out.empty(); }
  // The version-1 visibility (shared by batch and heads); a version-2 op has no such thing.
  AttentionMask visibility() const;
  // Checks sizes, the version-2 fields, and (unless empty_rows) that every query sees a key; throws
  // std::invalid_argument naming the problem.
  void validate() const;
  // An ABI problem pointing at this op's buffers (and at `out`). Version 1 needs !uses_v2() (the
  // validator's own panel kernels take a slice's softcap beside it).
  symbreak_attention_problem problem(float* out) const;
  // A backward problem: `o` is the forward output, the gradients are written to dq, dk, dv.
  symbreak_attention_backward_problem backward_problem(const float* o, float* dq, float* dk, float* dv) const;
  // Version 2, contiguous [b][h][n][d] strides; `kv_lens_storage` must outlive the problem.
  symbreak_attention_problem_v2 problem_v2(float* out) const;
  std::string shape_string() const;
  // Rounds q, k, v and d_out to `dtype` (saturating at its largest finite value): the last step of
  // every case and of every transformed input.
  void round_to_dtype();  // "b=1 h=2 n_q=5 n_k=5 d=4 d_v=3 causal mask"
};

// The op a version-2 problem describes (its buffers copied through their strides; `out` left empty).
AttentionOp op_from_problem(const symbreak_attention_problem_v2& p);
// Reads strided memory into a [batch][heads][rows][cols] contiguous tensor, and writes one back.
std::vector<float> read_strided(const float* src, const long long strides[3], int batch, int heads, int rows, int cols);
void write_strided(float* dst, const long long strides[3], const std::vector<float>& src, int batch, int heads, int rows, int cols);
// The same for elements of `dtype` (for f16/bf16, `src`/`dst` hold 16-bit patterns; writing rounds).
std::vector<float> read_strided(Dtype dtype, const void* src, const long long strides[3], int batch, int heads, int rows, int cols);
void write_strided(Dtype dtype, void* dst, const long long strides[3], const std::vector<float>& src, int batch, int heads, int rows,
                   int cols);

}  // namespace symbreak::validate
