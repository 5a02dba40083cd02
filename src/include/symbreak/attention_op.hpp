// The attention op that third-party kernels implement, its exact reference, and symbreak's built-in
// float32 kernels:
//
//   O[b,h] = softmax(scale · Q[b,h] K[b,h]ᵀ + mask) · V[b,h]
//
// with the layouts of attention_abi.h. The exact reference and the naive kernel are the same
// attention_head_forward the reference transformer uses, in Exact and in float.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "symbreak/attention_abi.h"
#include "symbreak/exact.hpp"
#include "symbreak/layers.hpp"

namespace symbreak {

struct AttentionOp {
  int batch = 1, heads = 1, n_q = 1, n_k = 1, d_head = 1, d_v = 1;
  bool causal = false;
  float scale = 1;
  std::vector<float> q, k, v;       // [batch][heads][n][d]
  std::vector<unsigned char> mask;  // empty, or [n_q][n_k], nonzero = visible

  std::size_t q_size() const { return static_cast<std::size_t>(batch) * heads * n_q * d_head; }
  std::size_t k_size() const { return static_cast<std::size_t>(batch) * heads * n_k * d_head; }
  std::size_t v_size() const { return static_cast<std::size_t>(batch) * heads * n_k * d_v; }
  std::size_t out_size() const { return static_cast<std::size_t>(batch) * heads * n_q * d_v; }
  AttentionMask visibility() const;
  // Checks sizes and that every query sees a key; throws std::invalid_argument naming the problem.
  void validate() const;
  // An ABI problem pointing at this op's buffers (and at `out`).
  symbreak_attention_problem problem(float* out) const;
  std::string shape_string() const;  // "b=1 h=2 n_q=5 n_k=5 d=4 d_v=3 causal mask"
};

// The exact reference: inputs and scale converted exactly, the softmax evaluated in Exact.
std::vector<Exact> exact_attention(const AttentionOp& op);

// The float32 reference kernel ("naive") and a FlashAttention-style kernel with an online softmax
// over key blocks ("tiled"). Both follow the ABI: 0 = success, nonzero = refused input.
int naive_attention(const symbreak_attention_problem* p);
int tiled_attention(const symbreak_attention_problem* p, int block_q, int block_k);

}  // namespace symbreak
