// The exact reference of the op and of its gradients, symbreak's float32 kernels, and the error a
// correct float32 kernel can make (the tolerance rule's err_ref).
//
// The exact reference is the ONE model's attention_head_forward / attention_head_backward in Exact
// arithmetic (rational, with exp a deterministic function of its exact input; src/EXACT.md). The
// float32 kernels: naive (the same functions in float), and tiled (FlashAttention's online softmax
// forward, FlashAttention-2's blocked backward with D_i = rowsum(dO_i ∘ O_i)).
//
// err_ref is the largest error against the exact reference over a panel of legitimate float32
// algorithms, so the rule does not depend on one algorithm's rounding: at extreme logits a kernel
// that scales q before the dot product (as PyTorch does) errs several times more than one that scales
// afterwards, and both are correct.
//   forward:  naive; plain sequential loops; q pre-scaled; √scale on both q and k (PyTorch 1.13's
//             SDPA); online softmax
//   backward: naive; plain sequential loops; q pre-scaled; blocked with D_i = rowsum(dO_i ∘ O_i);
//             the explicit softmax Jacobian (llm.c's CPU backward)
//
// Beside err_ref, each output element's term size: the sum of the absolute values of the terms it is
// a sum of. A correct kernel's rounding is a few ulps of that, so the atol is per element (a dQ whose
// exact value is 0 but whose terms are of size 300 may be off by a few ulps of 300).
#pragma once

#include <vector>

#include "symbreak/exact.hpp"
#include "symbreak/validate/op.hpp"

namespace symbreak::validate {

// One (batch, query head) of an op as a version-1 op of one batch item and one head: the query rows
// that see a key, the keys below the batch item's length from the KV head the query head reads, and
// the visibility as an explicit mask (none when every key is visible). The exact reference and the
// panel run slice by slice; rows with no visible key are zero, dK and dV sum over a group's heads.
struct HeadSlice {
  AttentionOp op;
  int b = 0, h = 0, kv_head = 0;
  std::vector<int> rows;  // the op's query rows, in order
  std::vector<double> bias;  // empty, or [rows][n_k]: each score's exact additive bias (the op's bias or ALiBi)
  std::size_t q_row(const AttentionOp& whole, int r) const;  // row index into whole's q / out / d_out
  std::size_t k_row(const AttentionOp& whole, int j) const;  // row index into whole's k / v
};
std::vector<HeadSlice> head_slices(const AttentionOp& op);

std::vector<Exact> exact_attention(const AttentionOp& op);

struct ExactGradients {
  std::vector<Exact> dq, dk, dv;
};
ExactGradients exact_attention_backward(const AttentionOp& op);  // needs op.d_out

// symbreak's float32 kernels. All follow the ABI: 0 = success, nonzero = refused input.
int naive_attention(const symbreak_attention_problem* p);
int tiled_attention(const symbreak_attention_problem* p, int block_q, int block_k);
int naive_attention_backward(const symbreak_attention_backward_problem* p);
int tiled_attention_backward(const symbreak_attention_backward_problem* p, int block_q, int block_k);

// Version 2 (any strides, grouped heads, alignment, window, lengths, empty rows): the same kernels,
// slice by slice.
int naive_attention_v2(const symbreak_attention_problem_v2* p);
int tiled_attention_v2(const symbreak_attention_problem_v2* p, int block_q, int block_k);
int naive_attention_backward_v2(const symbreak_attention_backward_problem_v2* b);
int tiled_attention_backward_v2(const symbreak_attention_backward_problem_v2* b, int block_q, int block_k);

// The float32 forward output the backward problem carries (the naive kernel's).
std::vector<float> float_forward(const AttentionOp& op);

// The forward reference: E as doubles, err_ref, the output scale max(1, max|E|) and per element the
// size of the summed terms.
//
// For f16/bf16 ops every panel output is rounded to the dtype: err_ref is then the error of the
// same-dtype reference (inputs and outputs in the dtype, float32 accumulation), the quantity
// FlashAttention's tests multiply by c, measured against the exact result instead of float32.
// `unit` is the dtype's unit roundoff, the atol's ulp.
struct Reference {
  std::vector<double> exact;
  double err = 0, scale = 1, unit = 0x1p-24;
  std::vector<double> terms;
  explicit Reference(const AttentionOp& op);
};

// The backward reference, per gradient (0: dQ, 1: dK, 2: dV).
struct GradientReference {
  std::vector<double> exact[3];
  double err[3] = {0, 0, 0}, scale[3] = {1, 1, 1}, unit = 0x1p-24;
  std::vector<double> terms[3];
  std::vector<float> o;  // the forward output handed to the kernel (float32 computed, rounded to the dtype)
  explicit GradientReference(const AttentionOp& op);
};

}  // namespace symbreak::validate
