// The per-layer functions of the reference transformer, in the style of llm.c: each takes its
// inputs and writes its outputs (resized as needed), shapes in comments. The templates are the
// reference formulas (layers.cpp), instantiated for float, double, Exact and the symbolic scalar.
// N is the number of rows (B·n positions).
//
// Fast paths: namespace fast at the end of this file holds a few of these formulas again for float
// (for attention, also double), vectorised (layers_fast.cpp). They have their own names, so a call
// says which it runs: layernorm_forward(...) is the reference, fast::layernorm_forward(...) the fast
// path. forward() (model.hpp) takes the fast paths; forward_reference() never does.
// tests/core/test_fast_paths.cpp checks every fast path against its reference.
#pragma once

#include <span>
#include <vector>

#include "symbreak/config.hpp"
#include "symbreak/tensor.hpp"

namespace symbreak {

// c (M, N) = a (M, K) · b (K, N), or a · bᵀ for b (N, K) when transpose_b.
// With accumulate, c += instead of c =. float/double use Eigen's GEMM; Exact uses a fraction-free
// product (integer dot products over a common denominator per row of a and per column of b, so the
// gcd is taken once per output entry, not once per multiply-add).
template <class T>
void gemm(Tensor<T>& c, const Tensor<T>& a, const Tensor<T>& b, bool transpose_b = false, bool accumulate = false);

// c (K, M) = aᵀ · b for a (N, K), b (N, M), or c += when accumulate: the weight gradient of a matrix
// product. float and double only (the backward pass).
template <class T>
void gemm_transposed_a(Tensor<T>& c, const Tensor<T>& a, const Tensor<T>& b, bool accumulate);

// Eigen splits a product into blocks sized by the CPU's caches, read at run time, and the block
// length along the inner dimension sets the order of each sum. So the same double product rounds
// differently on a CPU with a 48 KiB L1 than on one with 32 KiB, and SOAP's trajectories part within
// 100 steps. Core pins the sizes when the program starts (gemm.cpp) to kProductBlocking, the values
// Eigen reads on the AMD EPYC that trained most committed SOAP runs, so products round alike on
// every machine. set_product_blocking changes them: a replay of a run trained before the pin uses the
// sizes its run.json records ("product_blocking"). Byte counts, each > 0.
struct ProductBlocking {
  long l1 = 0, l2 = 0, l3 = 0;
  bool operator==(const ProductBlocking&) const = default;
};
inline constexpr ProductBlocking kProductBlocking{32768, 1048576, 335544320};
void set_product_blocking(const ProductBlocking& sizes);  // throws std::invalid_argument unless each is > 0
ProductBlocking product_blocking();

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
void attention_bias_forward(Tensor<T>& qkv, int heads, const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value);

// Which keys each query may attend: a causal flag and/or an explicit [n_q][n_k] mask (1 = visible);
// both restrict when both are set.
struct AttentionMask {
  bool causal = false;
  std::vector<unsigned char> allowed;  // empty: every key, else n_q·n_k entries
  int n_k = 0;
  bool visible(int i, int j) const {
    return (!causal || j <= i) && (allowed.empty() || allowed[static_cast<std::size_t>(i) * n_k + j] != 0);
  }
  // The mask a model config implies for sequences of length n.
  static AttentionMask of(const ModelConfig& config, int n);
};

// One attention head: q (n_q, dh), k (n_k, dh), v (n_k, dv) → out (n_q, dv), weights (n_q, n_k).
//   weights[i,j] = normalise(exp(s_ij - m_i) / Σ_visible exp(s_ik - m_i)),  s = scale·q kᵀ,
//   m_i = max over visible s_ik; invisible keys get exactly 0.  out = weights · v.
// softcap > 0 (Gemma 2's logit soft-capping): s = softcap·tanh(scale·q kᵀ / softcap) instead.
// bias (n_q, n_k), when given, is added to s after the softcap (an additive attention bias or
// ALiBi's −slope·distance); the backward pass needs nothing from it (∂s/∂bias = 1, and dS is the
// same). Every query must see at least one key (std::invalid_argument otherwise).
template <class T>
void attention_head_forward(Tensor<T>& out, Tensor<T>& weights, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                            const T& scale, const AttentionMask& mask, double softcap = 0, const Tensor<T>* bias = nullptr);

// Head h of sequence b out of the fused rows qkv (B·n, 3d): q, k, v each (n, dh), dh = d / heads.
// attention_forward and attention_backward take every head through it to the per-head reference.
template <class T>
void split_head(Tensor<T>& q, Tensor<T>& k, Tensor<T>& v, const Tensor<T>& qkv, int b, int h, int seq, int heads);

// qkv (B·n, 3d) → out (B·n, d), att (B·H·n, n).
//   att[b,h,i,:] = softmax_j(scale · q_i·k_j over keys j visible from i), 0 elsewhere
//   out[b,i,h·dh:(h+1)·dh] = Σ_j att[b,h,i,j] · v_j
// The weights are normalised (rounded in Exact); every row must see at least one key.
template <class T>
void attention_forward(Tensor<T>& out, Tensor<T>& att, const Tensor<T>& qkv, int batch, int seq, int heads, const T& scale,
                       const ModelConfig& mask);

// in (N, F) → out (N, F): gelu(x) = x·Φ(x), gelu_tanh(x) = x·gate(x), or relu(x) = max(x, 0).
// When `gate` is given, the GELU gate (Φ(x) or the tanh gate) is kept there for the backward pass.
template <class T>
void activation_forward(Tensor<T>& out, const Tensor<T>& in, Activation activation, Tensor<T>* gate = nullptr);

// out = a + b (with_residual) or out = b, all (N, d).
template <class T>
void residual_forward(Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b, bool with_residual);

// ---- Fast paths (layers_fast.cpp): the formulas above, vectorised -------------------------------
namespace fast {
void layernorm_forward(Tensor<float>& out, Tensor<float>& mean, Tensor<float>& rstd, const Tensor<float>& x,
                       const Tensor<float>& gain, const Tensor<float>& bias, const float& eps);
// attention_forward's heads read straight from qkv (no per-head copies).
void attention_forward(Tensor<float>& out, Tensor<float>& att, const Tensor<float>& qkv, int batch, int seq, int heads,
                       const float& scale, const ModelConfig& mask);
void attention_forward(Tensor<double>& out, Tensor<double>& att, const Tensor<double>& qkv, int batch, int seq, int heads,
                       const double& scale, const ModelConfig& mask);
// activation_forward with Activation::gelu (the only activation with a fast path).
void gelu_forward(Tensor<float>& out, const Tensor<float>& in, Tensor<float>* gate = nullptr);
}  // namespace fast

}  // namespace symbreak
