// The attention op that third-party kernels implement, with the layouts of attention_abi.h:
//
//   O[b,h] = softmax(scale · Q[b,h] K[b,h]ᵀ + mask) · V[b,h]
//
// and, for the backward pass, the upstream gradient dO from which a kernel computes dQ, dK and dV.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "symbreak/attention_abi.h"
#include "symbreak/layers.hpp"

namespace symbreak::validate {

struct AttentionOp {
  int batch = 1, heads = 1, n_q = 1, n_k = 1, d_head = 1, d_v = 1;
  bool causal = false;
  float scale = 1;
  std::vector<float> q, k, v;       // [batch][heads][n][d]
  std::vector<unsigned char> mask;  // empty, or [n_q][n_k], nonzero = visible
  std::vector<float> d_out;         // backward cases: dL/dO, [batch][heads][n_q][d_v]; empty otherwise

  std::size_t q_size() const { return static_cast<std::size_t>(batch) * heads * n_q * d_head; }
  std::size_t k_size() const { return static_cast<std::size_t>(batch) * heads * n_k * d_head; }
  std::size_t v_size() const { return static_cast<std::size_t>(batch) * heads * n_k * d_v; }
  std::size_t out_size() const { return static_cast<std::size_t>(batch) * heads * n_q * d_v; }
  bool backward() const { return !d_out.empty(); }
  AttentionMask visibility() const;
  // Checks sizes and that every query sees a key; throws std::invalid_argument naming the problem.
  void validate() const;
  // An ABI problem pointing at this op's buffers (and at `out`).
  symbreak_attention_problem problem(float* out) const;
  // A backward problem: `o` is the forward output, the gradients are written to dq, dk, dv.
  symbreak_attention_backward_problem backward_problem(const float* o, float* dq, float* dk, float* dv) const;
  std::string shape_string() const;  // "b=1 h=2 n_q=5 n_k=5 d=4 d_v=3 causal mask"
};

}  // namespace symbreak::validate
