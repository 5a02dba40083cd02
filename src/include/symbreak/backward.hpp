// The hand-written backward pass of the reference transformer, one function per layer next to its
// forward in layers.hpp (the structure of llm.c). The templates are the reference formulas,
// instantiated for float and double (the gradient check); the float overloads at the end are the
// fast paths training runs (backward_fast.cpp), checked against the references by
// tests/core/test_fast_paths.cpp. Every backward ACCUMULATES into its parameter gradients (dW += ...)
// and WRITES its input gradient unless stated otherwise.
#pragma once

#include <span>

#include "symbreak/model.hpp"

namespace symbreak {

// Forward: out (N, M) = x (N, K) · W (K, M).
// dout (N, M) → dx (N, K) = dout·Wᵀ (written, or added when accumulate_dx), dW (K, M) += xᵀ·dout
// (or = when accumulate_dW is false).
template <class T>
void matmul_backward(Tensor<T>& dx, Tensor<T>& dW, const Tensor<T>& dout, const Tensor<T>& x, const Tensor<T>& W,
                     bool accumulate_dx = false, bool accumulate_dW = true);

// Forward: y = (x - mean)·rstd·gain + bias per row.
// dy (N, d) → dx (N, d) (added: LayerNorm sits on a residual branch), dgain, dbias (1, d) +=.
template <class T>
void layernorm_backward(Tensor<T>& dx, Tensor<T>& dgain, Tensor<T>& dbias, const Tensor<T>& dy, const Tensor<T>& x,
                        const Tensor<T>& mean, const Tensor<T>& rstd, const Tensor<T>& gain);

// Forward: attention_forward (qkv (B·n, 3d) → out (B·n, d), att (B·H·n, n)).
// dout (B·n, d) → dqkv (B·n, 3d) (written).
//   dP_ij = dO_i·v_j,  dv_j = Σ_i P_ij dO_i,  dS_ij = P_ij (dP_ij - Σ_k P_ik dP_ik),
//   dq_i = scale Σ_j dS_ij k_j,  dk_j = scale Σ_i dS_ij q_i.
template <class T>
void attention_backward(Tensor<T>& dqkv, const Tensor<T>& dout, const Tensor<T>& qkv, const Tensor<T>& att, int batch, int seq,
                        int heads, const T& scale);

// Forward: attention_head_forward (one head; q (n_q, dh), k (n_k, dh), v (n_k, dv) → out (n_q, dv),
// weights P (n_q, n_k)). dout (n_q, dv) → dq (n_q, dh), dk (n_k, dh), dv (n_k, dv) (written).
//   dv = Pᵀ dO,  dP = dO vᵀ,  dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik),  dq = scale dS k,  dk = scale dSᵀ q.
// With softcap > 0 the chain rule through s = c·tanh(r/c), r = scale·q kᵀ, multiplies dS_ij by
// 1 − tanh²(r_ij/c) (recomputed from q and k, so in Exact it is the forward's own tanh).
// Also in Exact: the exact reference gradient of `symbreak validate`.
template <class T>
void attention_head_backward(Tensor<T>& dq, Tensor<T>& dk, Tensor<T>& dv, const Tensor<T>& dout, const Tensor<T>& q,
                             const Tensor<T>& k, const Tensor<T>& v, const Tensor<T>& weights, const T& scale,
                             double softcap = 0);

// Forward: activation_forward. dout (N, F) → din (N, F) (written). `gate` is the forward's GELU gate.
template <class T>
void activation_backward(Tensor<T>& din, const Tensor<T>& dout, const Tensor<T>& in, const Tensor<T>& gate,
                         Activation activation);

// Forward: embedding_forward. dout (N, d) → dE (V, d) +=, dP (positions, d) += (when given).
template <class T>
void embedding_backward(Tensor<T>& dE, Tensor<T>* dP, const Tensor<T>& dout, std::span<const int> tokens, int seq);

// The mean cross-entropy over the rows with a target (target < 0: no loss at that row).
// logits (N, V) → returns the loss; dlogits (N, V) = (softmax - onehot) / count (written).
template <class T>
double cross_entropy(Tensor<T>& dlogits, const Tensor<T>& logits, std::span<const int> targets);

// The whole backward pass: from dlogits (N, V) to the gradients of every parameter, added into
// `grads` (shaped like the model's weights), or written over them when `accumulate` is false (the
// first pass of a step: no separate zeroing of the large matrices). `acts` is the forward's record.
template <class T>
void backward(const Model<T>& model, std::span<const int> tokens, const Activations<T>& acts, const Tensor<T>& dlogits,
              Weights<T>& grads, bool accumulate = true);

// The same pass with the reference formula of every layer, never a fast path, accumulating into
// `grads`: what the fast paths are tested against. float only.
template <class T>
void backward_reference(const Model<T>& model, std::span<const int> tokens, const Activations<T>& acts, const Tensor<T>& dlogits,
                        Weights<T>& grads);

// ---- Fast paths (backward_fast.cpp): the formulas above, vectorised --------------------------------
// Named apart from the references (fast::), as in layers.hpp; backward() takes them, backward_reference()
// never does.
namespace fast {
void layernorm_backward(Tensor<float>& dx, Tensor<float>& dgain, Tensor<float>& dbias, const Tensor<float>& dy,
                        const Tensor<float>& x, const Tensor<float>& mean, const Tensor<float>& rstd, const Tensor<float>& gain);
// attention_backward's heads read straight from qkv and att, with packet dot products and axpys.
void attention_backward(Tensor<float>& dqkv, const Tensor<float>& dout, const Tensor<float>& qkv, const Tensor<float>& att,
                        int batch, int seq, int heads, const float& scale);
// activation_backward with Activation::gelu.
void gelu_backward(Tensor<float>& din, const Tensor<float>& dout, const Tensor<float>& in, const Tensor<float>& gate);
}  // namespace fast

}  // namespace symbreak
