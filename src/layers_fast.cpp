// The fast paths of layers.cpp: the same formulas for float (and, for attention, double), vectorised
// with Eigen's packets (simd.hpp) or read straight from the fused qkv rows. Training runs them; the
// reference templates in layers.cpp define what they compute, and tests/core/test_fast_paths.cpp
// checks each against its reference within a bound derived from the double reference.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "simd.hpp"
#include "symbreak/layers.hpp"

namespace symbreak::fast {

void layernorm_forward(Tensor<float>& out, Tensor<float>& mean, Tensor<float>& rstd, const Tensor<float>& x,
                       const Tensor<float>& gain, const Tensor<float>& bias, const float& eps) {
  const int rows = x.rows, d = x.cols;
  out.resize(rows, d);
  mean.resize(rows, 1);
  rstd.resize(rows, 1);
  const float width = static_cast<float>(d);
  using simd::Packet, simd::ei::pset1, simd::ei::psub, simd::ei::pmul, simd::ei::pmadd;
  for (int r = 0; r < rows; ++r) {
    const float* xr = x.row(r);
    const float mu = simd::sum(xr, d) / width;
    const Packet mu_p = pset1<Packet>(mu);
    const float square_sum = simd::sum(
        xr, d,
        [&](const Packet& v) {
          const Packet c = psub(v, mu_p);
          return pmul(c, c);
        },
        /*fill=*/mu);
    const float s = 1.0f / std::sqrt(square_sum / width + eps);
    const Packet s_p = pset1<Packet>(s);
    simd::map(out.row(r), xr, gain.data.data(), bias.data.data(), d,
              [&](const Packet& v, const Packet& g, const Packet& b) { return pmadd(pmul(psub(v, mu_p), s_p), g, b); });
    mean(r, 0) = mu;
    rstd(r, 0) = s;
  }
}

namespace {

// attention_forward for float and double: the computation of attention_head_forward, read straight
// from qkv (no per-head copies; for the short sequences of the experiments the copies cost more than
// the arithmetic).
template <class T>
void fused_attention_forward(Tensor<T>& out, Tensor<T>& att, const Tensor<T>& qkv, int batch, int seq, int heads, const T& scale,
                             const ModelConfig& config) {
  const int d = qkv.cols / 3, dh = d / heads;
  out.resize(batch * seq, d);
  att.resize(batch * heads * seq, seq);
  const AttentionMask mask = AttentionMask::of(config, seq);
  // Floats: the same computation as attention_head_forward, read straight from qkv (no per-head
  // copies; for the short sequences of the experiments the copies cost more than the arithmetic).
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < seq; ++i) {
        const T* q = qkv.row(b * seq + i) + h * dh;
        T* p = att.row((b * heads + h) * seq + i);
        T m = -std::numeric_limits<T>::infinity();
        for (int j = 0; j < seq; ++j) {
          if (!mask.visible(i, j)) {
            p[j] = -std::numeric_limits<T>::infinity();
            continue;
          }
          const T* k = qkv.row(b * seq + j) + d + h * dh;
          T dot = 0;
          if constexpr (std::is_same_v<T, float>) dot = simd::dot(q, k, dh);
          else
            for (int c = 0; c < dh; ++c) dot += q[c] * k[c];
          p[j] = dot * scale;
          m = std::max(m, p[j]);
        }
        if (m == -std::numeric_limits<T>::infinity())
          throw std::invalid_argument("attention: query " + std::to_string(i) + " sees no key");
        T sum = 0;
        for (int j = 0; j < seq; ++j) sum += (p[j] = p[j] == -std::numeric_limits<T>::infinity() ? T(0) : std::exp(p[j] - m));
        const T inv = T(1) / sum;
        T* o = out.row(b * seq + i) + h * dh;
        std::fill(o, o + dh, T(0));
        for (int j = 0; j < seq; ++j) {
          p[j] *= inv;
          const T* v = qkv.row(b * seq + j) + 2 * d + h * dh;
          if constexpr (std::is_same_v<T, float>) simd::axpy(p[j], v, o, dh);
          else
            for (int c = 0; c < dh; ++c) o[c] += p[j] * v[c];
        }
      }
}

}  // namespace

void attention_forward(Tensor<float>& out, Tensor<float>& att, const Tensor<float>& qkv, int batch, int seq, int heads,
                       const float& scale, const ModelConfig& config) {
  fused_attention_forward(out, att, qkv, batch, seq, heads, scale, config);
}

void attention_forward(Tensor<double>& out, Tensor<double>& att, const Tensor<double>& qkv, int batch, int seq, int heads,
                       const double& scale, const ModelConfig& config) {
  fused_attention_forward(out, att, qkv, batch, seq, heads, scale, config);
}

void gelu_forward(Tensor<float>& out, const Tensor<float>& in, Tensor<float>* gate) {
  out.resize(in.rows, in.cols);
  if (gate) gate->resize(in.rows, in.cols);
  {
    // Φ(x) = ½(1 + erf(x/√2)) on Eigen's packet erf (a few ulp; where Φ is tiny its absolute error
    // stays below float's unit roundoff, which is all x·Φ(x) can notice).
    using simd::Packet, simd::ei::pset1, simd::ei::pmul, simd::ei::pmadd, simd::ei::perf;
    const Packet half = pset1<Packet>(0.5f), inv_sqrt2 = pset1<Packet>(0.70710678118654752440f);
    const auto phi = [&](const Packet& x) { return pmadd(half, perf(pmul(x, inv_sqrt2)), half); };
    if (gate) {
      simd::map(gate->data.data(), in.data.data(), in.size(), phi);
      simd::map(out.data.data(), in.data.data(), gate->data.data(), in.size(),
                [](const Packet& x, const Packet& g) { return pmul(x, g); });
    } else {
      simd::map(out.data.data(), in.data.data(), in.size(), [&](const Packet& x) { return pmul(x, phi(x)); });
    }
    return;
  }
}

}  // namespace symbreak::fast
