#include "symbreak/layers.hpp"

#include <type_traits>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "symbreak/arith.hpp"

namespace symbreak {

template <class T>
void embedding_forward(Tensor<T>& out, std::span<const int> tokens, int seq, const Tensor<T>& token_embedding,
                       const Tensor<T>* position_table) {
  const int rows = static_cast<int>(tokens.size()), d = token_embedding.cols;
  out.resize(rows, d);
  for (int r = 0; r < rows; ++r) {
    const T* e = token_embedding.row(tokens[r]);
    T* o = out.row(r);
    if (position_table) {
      const T* p = position_table->row(r % seq);
      for (int c = 0; c < d; ++c) o[c] = e[c] + p[c];
    } else {
      for (int c = 0; c < d; ++c) o[c] = e[c];
    }
  }
}

template <class T>
void layernorm_forward(Tensor<T>& out, Tensor<T>& mean, Tensor<T>& rstd, const Tensor<T>& x, const Tensor<T>& gain,
                       const Tensor<T>& bias, const T& eps) {
  const int rows = x.rows, d = x.cols;
  out.resize(rows, d);
  mean.resize(rows, 1);
  rstd.resize(rows, 1);
  const T width = T(d);
  T centred;
  for (int r = 0; r < rows; ++r) {
    const T* xr = x.row(r);
    T sum(0);
    for (int c = 0; c < d; ++c) sum += xr[c];
    const T mu = sum / width;
    T square_sum(0);
    for (int c = 0; c < d; ++c) {
      centred = xr[c] - mu;
      square_sum += centred * centred;
    }
    const T s = Arith<T>::rsqrt(square_sum / width + eps);
    T* o = out.row(r);
    for (int c = 0; c < d; ++c) o[c] = Arith<T>::normalise((xr[c] - mu) * s) * gain.data[c] + bias.data[c];
    mean(r, 0) = mu;
    rstd(r, 0) = s;
  }
}

template <class T>
void attention_bias_forward(Tensor<T>& qkv, int heads, const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value) {
  const int d = qkv.cols / 3, dh = d / heads;
  const Tensor<T>* parts[3] = {&query, &key, &value};
  for (int part = 0; part < 3; ++part) {
    const Tensor<T>& bias = *parts[part];
    if (bias.size() == 0) continue;
    for (int r = 0; r < qkv.rows; ++r) {
      T* row = qkv.row(r) + part * d;
      for (int h = 0; h < heads; ++h)
        for (int c = 0; c < dh; ++c) row[h * dh + c] += bias(h, c);
    }
  }
}

AttentionMask AttentionMask::of(const ModelConfig& config, int n) {
  AttentionMask m;
  m.causal = config.mask == MaskKind::causal;
  m.n_k = n;
  if (config.mask == MaskKind::explicit_mask) {
    m.allowed.resize(static_cast<std::size_t>(n) * n);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) m.allowed[static_cast<std::size_t>(i) * n + j] = config.explicit_mask[i][j];
  }
  return m;
}

// The softmax of one score row over the visible keys; invisible keys get exactly 0.
//   p_j = normalise(exp(s_j - m) / Σ_k exp(s_k - m)),  m = max over visible s_k
template <class T>
static void softmax_row(T* p, const T* scores, int n, const AttentionMask& mask, int i) {
  thread_local std::vector<T> visible;
  visible.clear();
  for (int j = 0; j < n; ++j)
    if (mask.visible(i, j)) visible.push_back(scores[j]);
  if (visible.empty()) throw std::invalid_argument("attention: query " + std::to_string(i) + " sees no key");
  const T max_score = Arith<T>::max_of(visible.data(), static_cast<int>(visible.size()));
  T sum(0);
  for (int j = 0; j < n; ++j) {
    if (mask.visible(i, j)) {
      p[j] = Arith<T>::exp(scores[j] - max_score);
      sum += p[j];
    } else {
      p[j] = T(0);
    }
  }
  for (int j = 0; j < n; ++j)
    if (mask.visible(i, j)) p[j] = Arith<T>::normalise(p[j] / sum);
}

template <class T>
void attention_head_forward(Tensor<T>& out, Tensor<T>& weights, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                            const T& scale, const AttentionMask& mask, double softcap, const Tensor<T>* bias) {
  if (q.cols != k.cols || k.rows != v.rows) throw std::invalid_argument("attention: q, k, v shapes do not fit together");
  if (bias && (bias->rows != q.rows || bias->cols != k.rows))
    throw std::invalid_argument("attention: the bias must be n_q × n_k");
  if (!(softcap >= 0) || !std::isfinite(softcap)) throw std::invalid_argument("attention: softcap must be finite and >= 0");
  gemm(weights, q, k, /*transpose_b=*/true);  // (n_q, n_k) scores, softmaxed in place below
  Tensor<T> row(1, k.rows);
  const T cap = Arith<T>::from_double(softcap);
  for (int i = 0; i < q.rows; ++i) {
    T* s = weights.row(i);
    for (int j = 0; j < k.rows; ++j) row.data[j] = s[j] * scale;
    if (softcap > 0)
      for (int j = 0; j < k.rows; ++j) row.data[j] = cap * Arith<T>::tanh(row.data[j] / cap);
    if (bias)
      for (int j = 0; j < k.rows; ++j) row.data[j] += (*bias)(i, j);
    softmax_row(s, row.data.data(), k.rows, mask, i);
  }
  if constexpr (std::is_floating_point_v<T>) {
    // out_i = Σ over visible j of weights_ij · v_j. In floats a masked key must add nothing even when
    // its value is NaN or inf (0 · NaN = NaN in a GEMM over every key; pytorch#101967 is that bug).
    out.resize(q.rows, v.cols);
    out.zero();
    for (int i = 0; i < q.rows; ++i)
      for (int j = 0; j < k.rows; ++j) {
        if (!mask.visible(i, j)) continue;
        const T w = weights(i, j);
        for (int c = 0; c < v.cols; ++c) out(i, c) += w * v(j, c);
      }
  } else {
    gemm(out, weights, v);  // (n_q, dv); exact and symbolic products by zero are zero
  }
}

template <class T>
void split_head(Tensor<T>& q, Tensor<T>& k, Tensor<T>& v, const Tensor<T>& qkv, int b, int h, int seq, int heads) {
  const int d = qkv.cols / 3, dh = d / heads;
  q.resize(seq, dh);
  k.resize(seq, dh);
  v.resize(seq, dh);
  for (int i = 0; i < seq; ++i) {
    const T* row = qkv.row(b * seq + i);
    for (int c = 0; c < dh; ++c) {
      q(i, c) = row[h * dh + c];
      k(i, c) = row[d + h * dh + c];
      v(i, c) = row[2 * d + h * dh + c];
    }
  }
}

template <class T>
void attention_forward(Tensor<T>& out, Tensor<T>& att, const Tensor<T>& qkv, int batch, int seq, int heads, const T& scale,
                       const ModelConfig& config) {
  const int d = qkv.cols / 3, dh = d / heads;
  out.resize(batch * seq, d);
  att.resize(batch * heads * seq, seq);
  const AttentionMask mask = AttentionMask::of(config, seq);
  Tensor<T> q, k, v, weights, head_out;
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      split_head(q, k, v, qkv, b, h, seq, heads);
      attention_head_forward(head_out, weights, q, k, v, scale, mask);
      for (int i = 0; i < seq; ++i) {
        std::copy(weights.row(i), weights.row(i) + seq, att.row((b * heads + h) * seq + i));
        std::copy(head_out.row(i), head_out.row(i) + dh, out.row(b * seq + i) + h * dh);
      }
    }
  }
}

template <class T>
void activation_forward(Tensor<T>& out, const Tensor<T>& in, Activation activation, Tensor<T>* gate) {
  out.resize(in.rows, in.cols);
  if (gate) gate->resize(in.rows, in.cols);
  for (std::size_t i = 0; i < in.size(); ++i) {
    const T& x = in.data[i];
    switch (activation) {
      case Activation::gelu: {
        const T g = Arith<T>::normal_cdf(x);
        if (gate) gate->data[i] = g;
        out.data[i] = x * g;
        break;
      }
      case Activation::gelu_tanh: {
        const T g = Arith<T>::gelu_tanh_gate(x);
        if (gate) gate->data[i] = g;
        out.data[i] = x * g;
        break;
      }
      case Activation::relu: out.data[i] = Arith<T>::relu(x); break;
    }
  }
}

template <class T>
void residual_forward(Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b, bool with_residual) {
  out.resize(b.rows, b.cols);
  if (with_residual)
    for (std::size_t i = 0; i < b.size(); ++i) out.data[i] = a.data[i] + b.data[i];
  else
    for (std::size_t i = 0; i < b.size(); ++i) out.data[i] = b.data[i];
}

#define SYMBREAK_INSTANTIATE_LAYERS(T)                                                                                         \
  template void embedding_forward<T>(Tensor<T>&, std::span<const int>, int, const Tensor<T>&, const Tensor<T>*);               \
  template void layernorm_forward<T>(Tensor<T>&, Tensor<T>&, Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, \
                                     const T&);                                                                                \
  template void attention_bias_forward<T>(Tensor<T>&, int, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);              \
  template void attention_head_forward<T>(Tensor<T>&, Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,        \
                                          const T&, const AttentionMask&, double, const Tensor<T>*);                                       \
  template void split_head<T>(Tensor<T>&, Tensor<T>&, Tensor<T>&, const Tensor<T>&, int, int, int, int);                    \
  template void attention_forward<T>(Tensor<T>&, Tensor<T>&, const Tensor<T>&, int, int, int, const T&, const ModelConfig&);   \
  template void activation_forward<T>(Tensor<T>&, const Tensor<T>&, Activation, Tensor<T>*);                                   \
  template void residual_forward<T>(Tensor<T>&, const Tensor<T>&, const Tensor<T>&, bool);

SYMBREAK_INSTANTIATE_LAYERS(float)
SYMBREAK_INSTANTIATE_LAYERS(double)
SYMBREAK_INSTANTIATE_LAYERS(Exact)
SYMBREAK_INSTANTIATE_LAYERS(Expr)

}  // namespace symbreak
