// The fast paths of backward.cpp: the same formulas for float, vectorised with Eigen's packets
// (simd.hpp). Training runs them; the reference templates in backward.cpp define what they compute,
// and tests/core/test_fast_paths.cpp checks each against its reference within a bound derived from
// the double reference.
#include <cmath>
#include <vector>

#include "simd.hpp"
#include "symbreak/backward.hpp"

namespace symbreak::fast {

void layernorm_backward(Tensor<float>& dx, Tensor<float>& dgain, Tensor<float>& dbias, const Tensor<float>& dy, const Tensor<float>& x,
                        const Tensor<float>& mean, const Tensor<float>& rstd, const Tensor<float>& gain) {
  const int rows = x.rows, d = x.cols;
  std::vector<float> xhat(d), dxhat(d);
  using simd::Packet, simd::ei::pset1, simd::ei::psub, simd::ei::pmul, simd::ei::pmadd;
  const float inv_d = 1.0f / static_cast<float>(d);
  for (int r = 0; r < rows; ++r) {
    const Packet mu = pset1<Packet>(mean(r, 0)), s = pset1<Packet>(rstd(r, 0));
    const float* dyr = dy.row(r);
    simd::map(xhat.data(), x.row(r), d, [&](const Packet& v) { return pmul(psub(v, mu), s); });
    simd::map(dxhat.data(), dyr, gain.data.data(), d, [](const Packet& g, const Packet& w) { return pmul(g, w); });
    simd::map(dgain.data.data(), dyr, xhat.data(), dgain.data.data(), d,
              [](const Packet& g, const Packet& xh, const Packet& acc) { return pmadd(g, xh, acc); });
    simd::map(dbias.data.data(), dyr, dbias.data.data(), d, [](const Packet& g, const Packet& acc) { return simd::ei::padd(g, acc); });
    const Packet mean_dxhat = pset1<Packet>(simd::sum(dxhat.data(), d) * inv_d);
    const Packet mean_dxhat_xhat = pset1<Packet>(simd::dot(dxhat.data(), xhat.data(), d) * inv_d);
    float* dxr = dx.row(r);
    simd::map(dxr, dxhat.data(), xhat.data(), dxr, d, [&](const Packet& dxh, const Packet& xh, const Packet& acc) {
      return pmadd(s, psub(psub(dxh, mean_dxhat), pmul(xh, mean_dxhat_xhat)), acc);
    });
  }
}

void attention_backward(Tensor<float>& dqkv, const Tensor<float>& dout, const Tensor<float>& qkv, const Tensor<float>& att, int batch,
                        int seq, int heads, const float& scale) {
  const int d = qkv.cols / 3, dh = d / heads, n = seq;
  dqkv.resize(qkv.rows, qkv.cols);
  dqkv.zero();
  std::vector<float> dp(n);
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < n; ++i) {
        const float* p = att.row((b * heads + h) * n + i);
        const float* dO = dout.row(b * n + i) + h * dh;
        float weighted(0);
        for (int j = 0; j < n; ++j) {
          const float* v = qkv.row(b * n + j) + 2 * d + h * dh;
          float* dv = dqkv.row(b * n + j) + 2 * d + h * dh;
          const float dot = simd::dot(dO, v, dh);
          simd::axpy(p[j], dO, dv, dh);
          dp[j] = dot;
          weighted += p[j] * dot;
        }
        const float* q = qkv.row(b * n + i) + h * dh;
        float* dq = dqkv.row(b * n + i) + h * dh;
        for (int j = 0; j < n; ++j) {
          const float dscore = p[j] * (dp[j] - weighted) * scale;
          if (dscore == 0.0f) continue;
          const float* k = qkv.row(b * n + j) + d + h * dh;
          float* dk = dqkv.row(b * n + j) + d + h * dh;
          simd::axpy(dscore, k, dq, dh);
          simd::axpy(dscore, q, dk, dh);
        }
      }
}

void gelu_backward(Tensor<float>& din, const Tensor<float>& dout, const Tensor<float>& in, const Tensor<float>& gate) {
  din.resize(in.rows, in.cols);
  constexpr double kInvSqrt2Pi = 0.39894228040143267794;
  {  // the reference's formula on Eigen's packet exp (simd.hpp)
    using simd::Packet, simd::ei::pset1, simd::ei::pmul, simd::ei::pmadd, simd::ei::pexp;
    const Packet inv_sqrt_2pi = pset1<Packet>(static_cast<float>(kInvSqrt2Pi)), minus_half = pset1<Packet>(-0.5f);
    simd::map(din.data.data(), in.data.data(), gate.data.data(), dout.data.data(), in.size(),
              [&](const Packet& x, const Packet& g, const Packet& dy) {
                const Packet density = pmul(inv_sqrt_2pi, pexp(pmul(minus_half, pmul(x, x))));
                return pmul(dy, pmadd(x, density, g));
              });
    return;
  }
}

}  // namespace symbreak::fast
