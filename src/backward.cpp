#include "symbreak/backward.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "symbreak/layers.hpp"

namespace symbreak {

template <class T>
void matmul_backward(Tensor<T>& dx, Tensor<T>& dW, const Tensor<T>& dout, const Tensor<T>& x, const Tensor<T>& W,
                     bool accumulate_dx, bool accumulate_dW) {
  gemm(dx, dout, W, /*transpose_b=*/true, accumulate_dx);  // (N, K) = (N, M)·(K, M)ᵀ
  gemm_transposed_a(dW, x, dout, accumulate_dW);           // (K, M) (+)= xᵀ·dout
}

template <class T>
void layernorm_backward(Tensor<T>& dx, Tensor<T>& dgain, Tensor<T>& dbias, const Tensor<T>& dy, const Tensor<T>& x,
                        const Tensor<T>& mean, const Tensor<T>& rstd, const Tensor<T>& gain) {
  const int rows = x.rows, d = x.cols;
  std::vector<T> xhat(d), dxhat(d);
  for (int r = 0; r < rows; ++r) {
    const T mu = mean(r, 0), s = rstd(r, 0);
    T mean_dxhat(0), mean_dxhat_xhat(0);
    for (int c = 0; c < d; ++c) {
      xhat[c] = (x(r, c) - mu) * s;
      dxhat[c] = dy(r, c) * gain.data[c];
      dgain.data[c] += dy(r, c) * xhat[c];
      dbias.data[c] += dy(r, c);
      mean_dxhat += dxhat[c];
      mean_dxhat_xhat += dxhat[c] * xhat[c];
    }
    mean_dxhat /= T(d);
    mean_dxhat_xhat /= T(d);
    for (int c = 0; c < d; ++c) dx(r, c) += s * (dxhat[c] - mean_dxhat - xhat[c] * mean_dxhat_xhat);
  }
}

template <class T>
void attention_head_backward(Tensor<T>& dq, Tensor<T>& dk, Tensor<T>& dv, const Tensor<T>& dout, const Tensor<T>& q,
                             const Tensor<T>& k, const Tensor<T>& v, const Tensor<T>& weights, const T& scale,
                             double softcap) {
  const int nq = q.rows, nk = k.rows, dh = q.cols, dvw = v.cols;
  const T cap = Arith<T>::from_double(softcap > 0 ? softcap : 1);
  dq = Tensor<T>(nq, dh);
  dk = Tensor<T>(nk, dh);
  dv = Tensor<T>(nk, dvw);
  std::vector<T> dp(static_cast<std::size_t>(nk));
  for (int i = 0; i < nq; ++i) {
    const T* p = weights.row(i);
    const T* dO = dout.row(i);
    // dP_ij = dO_i · v_j, and dv_j += P_ij dO_i
    // Keys with P_ij = 0 (masked) are skipped: they contribute exactly nothing, and in floats their
    // values may not be finite (0 · NaN = NaN would leak into every gradient of the row).
    T weighted(0);
    for (int j = 0; j < nk; ++j) {
      if (p[j] == T(0)) continue;
      T dot(0);
      for (int c = 0; c < dvw; ++c) {
        dot += dO[c] * v(j, c);
        dv(j, c) += p[j] * dO[c];
      }
      dp[j] = dot;
      weighted += p[j] * dot;
    }
    // dS_ij = P_ij (dP_ij - Σ_k P_ik dP_ik); keys the query cannot see have P_ij = 0 and get nothing.
    for (int j = 0; j < nk; ++j) {
      if (p[j] == T(0)) continue;
      T dscore = p[j] * (dp[j] - weighted) * scale;
      if (softcap > 0) {  // d(c·tanh(r/c))/dr = 1 − tanh²(r/c), r as the forward computed it
        T r(0);
        for (int c = 0; c < dh; ++c) r += q(i, c) * k(j, c);
        const T t = Arith<T>::tanh(r * scale / cap);
        dscore = dscore * (T(1) - t * t);
      }
      if (dscore == T(0)) continue;
      for (int c = 0; c < dh; ++c) {
        dq(i, c) += dscore * k(j, c);
        dk(j, c) += dscore * q(i, c);
      }
    }
  }
}

// Every head of every sequence through attention_head_backward, the one reference: q, k, v and the
// weights gathered from qkv (N, 3d) and att (B·H·n, n), the gradients scattered back into dqkv.
template <class T>
void attention_backward(Tensor<T>& dqkv, const Tensor<T>& dout, const Tensor<T>& qkv, const Tensor<T>& att, int batch, int seq,
                        int heads, const T& scale) {
  const int d = qkv.cols / 3, dh = d / heads, n = seq;
  dqkv.resize(qkv.rows, qkv.cols);
  Tensor<T> q, k, v, weights(n, n), dhead(n, dh), dq, dk, dv;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h) {
      split_head(q, k, v, qkv, b, h, n, heads);
      for (int i = 0; i < n; ++i) {
        std::copy_n(dout.row(b * n + i) + h * dh, dh, dhead.row(i));
        std::copy_n(att.row((b * heads + h) * n + i), n, weights.row(i));
      }
      attention_head_backward(dq, dk, dv, dhead, q, k, v, weights, scale, /*softcap=*/0);
      for (int i = 0; i < n; ++i) {
        T* row = dqkv.row(b * n + i);
        for (int c = 0; c < dh; ++c) {
          row[h * dh + c] = dq(i, c);
          row[d + h * dh + c] = dk(i, c);
          row[2 * d + h * dh + c] = dv(i, c);
        }
      }
    }
}

template <class T>
void activation_backward(Tensor<T>& din, const Tensor<T>& dout, const Tensor<T>& in, const Tensor<T>& gate,
                         Activation activation) {
  din.resize(in.rows, in.cols);
  constexpr double kInvSqrt2Pi = 0.39894228040143267794, kSqrt2OverPi = 0.79788456080286535588;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const T x = in.data[i];
    T derivative(0);
    switch (activation) {
      case Activation::gelu:  // d/dx x·Φ(x) = Φ(x) + x·φ(x)
        derivative = gate.data[i] + x * T(kInvSqrt2Pi) * std::exp(-x * x / T(2));
        break;
      case Activation::gelu_tanh: {  // d/dx ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³); gate = ½(1 + t)
        const T t = T(2) * gate.data[i] - T(1);
        derivative = T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
        break;
      }
      case Activation::relu: derivative = x > T(0) ? T(1) : T(0); break;
    }
    din.data[i] = dout.data[i] * derivative;
  }
}

template <class T>
void embedding_backward(Tensor<T>& dE, Tensor<T>* dP, const Tensor<T>& dout, std::span<const int> tokens, int seq) {
  for (std::size_t r = 0; r < tokens.size(); ++r) {
    const T* g = dout.row(static_cast<int>(r));
    T* e = dE.row(tokens[r]);
    for (int c = 0; c < dout.cols; ++c) e[c] += g[c];
    if (dP) {
      T* p = dP->row(static_cast<int>(r) % seq);
      for (int c = 0; c < dout.cols; ++c) p[c] += g[c];
    }
  }
}

template <class T>
double cross_entropy(Tensor<T>& dlogits, const Tensor<T>& logits, std::span<const int> targets) {
  if (static_cast<int>(targets.size()) != logits.rows) throw std::invalid_argument("cross_entropy: one target per row");
  dlogits.resize(logits.rows, logits.cols);
  dlogits.zero();
  int count = 0;
  for (int t : targets) count += t >= 0;
  if (count == 0) return 0;
  double loss = 0;
  for (int r = 0; r < logits.rows; ++r) {
    if (targets[r] < 0) continue;
    const T* z = logits.row(r);
    T m = z[0];
    for (int c = 1; c < logits.cols; ++c) m = std::max(m, z[c]);
    T sum(0);
    T* g = dlogits.row(r);
    for (int c = 0; c < logits.cols; ++c) sum += (g[c] = std::exp(z[c] - m));
    loss += static_cast<double>(std::log(sum) + m - z[targets[r]]);
    const T inv = T(1) / (sum * T(count));
    for (int c = 0; c < logits.cols; ++c) g[c] *= inv;
    g[targets[r]] -= T(1) / T(count);
  }
  return loss / count;
}

namespace {

// The backward pass's scratch tensors, kept per thread so a training step allocates nothing.
template <class T>
struct BackwardWorkspace {
  Tensor<T> dx, dtmp, dmid, dbranch, dhidden, dfc, datt, dqkv;
};

template <class T>
void zeros(Tensor<T>& t, int rows, int cols) {
  t.resize(rows, cols);
  t.zero();
}

// The three layers that have a fast path, and which one each runs: with Fast and float, the fast
// path (fast::, backward_fast.cpp), else the reference.
template <class T, bool Fast>
struct BackwardLayers {
  static constexpr bool kFloat = Fast && std::is_same_v<T, float>;
  static void layernorm(Tensor<T>& dx, Tensor<T>& dgain, Tensor<T>& dbias, const Tensor<T>& dy, const Tensor<T>& x,
                        const Tensor<T>& mean, const Tensor<T>& rstd, const Tensor<T>& gain) {
    if constexpr (kFloat) fast::layernorm_backward(dx, dgain, dbias, dy, x, mean, rstd, gain);
    else layernorm_backward(dx, dgain, dbias, dy, x, mean, rstd, gain);
  }
  static void attention(Tensor<T>& dqkv, const Tensor<T>& dout, const Tensor<T>& qkv, const Tensor<T>& att, int batch, int seq,
                        int heads, const T& scale) {
    if constexpr (kFloat) fast::attention_backward(dqkv, dout, qkv, att, batch, seq, heads, scale);
    else attention_backward(dqkv, dout, qkv, att, batch, seq, heads, scale);
  }
  static void activation(Tensor<T>& din, const Tensor<T>& dout, const Tensor<T>& in, const Tensor<T>& gate, Activation a) {
    if constexpr (kFloat)
      if (a == Activation::gelu) return fast::gelu_backward(din, dout, in, gate);
    activation_backward(din, dout, in, gate, a);
  }
};

template <class T, bool Fast>
void backward_pass(const Model<T>& model, std::span<const int> tokens, const Activations<T>& acts, const Tensor<T>& dlogits,
                   Weights<T>& grads, bool accumulate) {
  using Layers = BackwardLayers<T, Fast>;
  const ModelConfig& c = model.config;
  if (!accumulate)  // the matrices are written below; the small tensors are added into, so clear them
    for (auto& [name, t] : named_parameters(grads))
      if (t->rows == 1 || name.ends_with("embedding")) t->zero();
  const Weights<T>& w = model.weights;
  const int layers = c.layers;
  thread_local BackwardWorkspace<T> ws;
  auto& [dx, dtmp, dmid, dbranch, dhidden, dfc, datt, dqkv] = ws;

  // Head: (N, V) → (N, d)
  const Tensor<T>& final_stream = acts.stream(static_cast<std::size_t>(layers));
  if (c.final_layernorm) {
    matmul_backward(dtmp, grads.unembedding, dlogits, acts.lnf, w.unembedding, false, accumulate);
    zeros(dx, final_stream.rows, final_stream.cols);
    Layers::layernorm(dx, grads.lnf_gain, grads.lnf_bias, dtmp, final_stream, acts.lnf_mean, acts.lnf_rstd, w.lnf_gain);
  } else {
    matmul_backward(dx, grads.unembedding, dlogits, final_stream, w.unembedding, false, accumulate);
  }

  for (int l = layers - 1; l >= 0; --l) {
    const LayerActivations<T>& a = acts.layers[l];
    const LayerWeights<T>& L = w.layers[l];
    LayerWeights<T>& G = grads.layers[l];
    const Tensor<T>& x_in = acts.stream(static_cast<std::size_t>(l));
    // MLP sublayer: dx is d(resid_out).
    if (c.mlp) {
      if (c.residual_mlp_on(l)) dmid = dx;
      else zeros(dmid, dx.rows, dx.cols);
      matmul_backward(dhidden, G.w_proj, dx, a.fc_act, L.w_proj, false, accumulate);  // (N, F)
      Layers::activation(dfc, dhidden, a.fc, a.fc_gate, c.activation);
      const Tensor<T>& mlp_in = c.layernorm ? a.ln2 : a.resid_mid;
      if (c.layernorm) {
        matmul_backward(dbranch, G.w_fc, dfc, mlp_in, L.w_fc, false, accumulate);
        Layers::layernorm(dmid, G.ln2_gain, G.ln2_bias, dbranch, a.resid_mid, a.ln2_mean, a.ln2_rstd, L.ln2_gain);
      } else {
        matmul_backward(dmid, G.w_fc, dfc, mlp_in, L.w_fc, /*accumulate_dx=*/true, accumulate);
      }
    } else {
      dmid = dx;
    }
    // Attention sublayer: dmid is d(resid_mid).
    if (c.residual_attention_on(l)) dx = dmid;
    else zeros(dx, dmid.rows, dmid.cols);
    matmul_backward(datt, G.w_o, dmid, a.att_heads, L.w_o, false, accumulate);
    Layers::attention(dqkv, datt, a.qkv, a.att, acts.batch, acts.seq, c.heads, model.attention_scale);
    const Tensor<T>& attn_in = c.layernorm ? a.ln1 : x_in;
    if (c.layernorm) {
      matmul_backward(dbranch, G.w_qkv, dqkv, attn_in, L.w_qkv, false, accumulate);
      Layers::layernorm(dx, G.ln1_gain, G.ln1_bias, dbranch, x_in, a.ln1_mean, a.ln1_rstd, L.ln1_gain);
    } else {
      matmul_backward(dx, G.w_qkv, dqkv, attn_in, L.w_qkv, /*accumulate_dx=*/true, accumulate);
    }
  }
  embedding_backward(grads.token_embedding,
                     c.positional_encoding == PositionalEncoding::learned ? &grads.position_embedding : nullptr, dx, tokens,
                     acts.seq);
}

}  // namespace

template <class T>
void backward(const Model<T>& model, std::span<const int> tokens, const Activations<T>& acts, const Tensor<T>& dlogits,
              Weights<T>& grads, bool accumulate) {
  backward_pass<T, true>(model, tokens, acts, dlogits, grads, accumulate);
}

template <class T>
void backward_reference(const Model<T>& model, std::span<const int> tokens, const Activations<T>& acts, const Tensor<T>& dlogits,
                        Weights<T>& grads) {
  backward_pass<T, false>(model, tokens, acts, dlogits, grads, true);
}

#define SYMBREAK_INSTANTIATE_BACKWARD(T)                                                                                        \
  template void matmul_backward<T>(Tensor<T>&, Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, bool, bool);   \
  template void layernorm_backward<T>(Tensor<T>&, Tensor<T>&, Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, \
                                      const Tensor<T>&, const Tensor<T>&);                                                      \
  template void attention_backward<T>(Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, int, int, int,          \
                                      const T&);                                                                                \
  template void activation_backward<T>(Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, Activation);           \
  template void attention_head_backward<T>(Tensor<T>&, Tensor<T>&, Tensor<T>&, const Tensor<T>&, const Tensor<T>&,              \
                                           const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const T&, double);             \
  template void embedding_backward<T>(Tensor<T>&, Tensor<T>*, const Tensor<T>&, std::span<const int>, int);                     \
  template double cross_entropy<T>(Tensor<T>&, const Tensor<T>&, std::span<const int>);                                         \
  template void backward<T>(const Model<T>&, std::span<const int>, const Activations<T>&, const Tensor<T>&, Weights<T>&, bool);

SYMBREAK_INSTANTIATE_BACKWARD(float)
SYMBREAK_INSTANTIATE_BACKWARD(double)
template void backward_reference<float>(const Model<float>&, std::span<const int>, const Activations<float>&,
                                        const Tensor<float>&, Weights<float>&);
template void attention_head_backward<Exact>(Tensor<Exact>&, Tensor<Exact>&, Tensor<Exact>&, const Tensor<Exact>&,
                                             const Tensor<Exact>&, const Tensor<Exact>&, const Tensor<Exact>&,
                                             const Tensor<Exact>&, const Exact&, double);

}  // namespace symbreak
