// The per-layer functions of the reference transformer, in the style of llm.c: each takes its
// inputs and writes its outputs (resized as needed), shapes in comments. Instantiated for float,
// double and Exact. N is the number of rows (B·n positions).
#pragma once

#include <span>

#include "symbreak/config.hpp"
#include "symbreak/tensor.hpp"

namespace symbreak {

// c (M, N) = a (M, K) · b (K, N), or a · bᵀ for b (N, K) when transpose_b.
// With accumulate, c += instead of c =. float/double use Eigen's GEMM; Exact uses a fraction-free
// product (integer dot products over a common denominator per row of a and per column of b, so the
// gcd is taken once per output entry, not once per multiply-add).
template <class T>
void gemm(Tensor<T>& c, const Tensor<T>& a, const Tensor<T>& b, bool transpose_b = false, bool accumulate = false);

// tokens (N) → out (N, d): out[r] = E[tokens[r]] + position table[r mod n] (table may be empty).
template <class T>
void embedding_forward(Tensor<T>& out, std::span<const int> tokens, int seq, const Tensor<T>& token_embedding,
                       const Tensor<T>* position_table);

// x (N, d) → out (N, d), mean (N, 1), rstd (N, 1).
//   out = normalise((x - mean)·rstd)·gain + bias,  rstd = 1/sqrt(var + eps), var the biased variance.
// `normalise` rounds to the P-bit grid in Exact and is the identity in float.
template <class T>
void layernorm_forward(Tensor<T>& out, Tensor<T>& mean, Tensor<T>& rstd, const Tensor<T>& x, const Tensor<T>& gain,
                       const Tensor<T>& bias, const T& eps);

// qkv (N, 3d) += the unlearned biases (H, dh) of queries, keys and values (each may be empty).
template <class T>
void attention_bias_forward(Tensor<T>& qkv, int heads, const Tensor<T>& query, const Tensor<T>& key,
                            const Tensor<T>& value);

// qkv (B·n, 3d) → out (B·n, d), att (B·H·n, n).
//   att[b,h,i,:] = softmax_j(scale · q_i·k_j over keys j visible from i), 0 elsewhere
//   out[b,i,h·dh:(h+1)·dh] = Σ_j att[b,h,i,j] · v_j
// The weights are normalised (rounded in Exact); every row must see at least one key.
template <class T>
void attention_forward(Tensor<T>& out, Tensor<T>& att, const Tensor<T>& qkv, int batch, int seq, int heads,
                       const T& scale, const ModelConfig& mask);

// in (N, F) → out (N, F): gelu(x) = x·Φ(x), gelu_tanh(x) = x·gate(x), or relu(x) = max(x, 0).
template <class T>
void activation_forward(Tensor<T>& out, const Tensor<T>& in, Activation activation);

// out = a + b (with_residual) or out = b, all (N, d).
template <class T>
void residual_forward(Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b, bool with_residual);

}  // namespace symbreak
