// The size of the terms each output of attention sums: the scale of a correct kernel's rounding (see
// panel.hpp's TermSizes).
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "panel.hpp"

namespace symbreak::validate::panel {
namespace {

// Whether every float32 evaluation of a sum of these (exact, double) products is exact: each product
// is a float32 and all of them, and every partial sum in any order, lie on one grid 2^e with
// magnitude below 2^(e+24). Such a score has no rounding to propagate (integer inputs, say).
class ExactSum {
 public:
  void add(double x) {
    if (x == 0) return;
    if (static_cast<double>(static_cast<float>(x)) != x) exact_ = false;
    int exponent = 0;
    const double mantissa = std::frexp(std::abs(x), &exponent);                        // x = mantissa · 2^exponent
    const auto bits = static_cast<std::uint64_t>(std::ldexp(mantissa, 53));            // exact: 53 bits
    grid_ = std::min(grid_, exponent - 53 + std::countr_zero(bits));                   // x is a multiple of 2^grid_
    magnitude_ += std::abs(x);
  }
  bool exact() const { return exact_ && (magnitude_ == 0 || magnitude_ < std::ldexp(1.0, grid_ + 24)); }

 private:
  bool exact_ = true;
  int grid_ = std::numeric_limits<int>::max();
  double magnitude_ = 0;
};

bool is_power_of_four(float scale) {
  int exponent = 0;
  return scale > 0 && std::frexp(static_cast<double>(scale), &exponent) == 0.5 && (exponent - 1) % 2 == 0;
}

TermSizes term_sizes(const AttentionOp& op, const std::vector<double>* bias) {
  TermSizes t;
  t.out.assign(op.out_size(), 0.0);
  const bool bwd = op.backward();
  if (bwd) {
    t.dq.assign(op.q_size(), 0.0);
    t.dk.assign(op.k_size(), 0.0);
    t.dv.assign(op.v_size(), 0.0);
  }
  const AttentionMask mask = op.visibility();
  const int nq = op.n_q, nk = op.n_k, dh = op.d_head, dv = op.d_v;
  const double scale = std::abs(static_cast<double>(op.scale)), cap = op.softcap;
  std::vector<double> P(nk), absdP(nk), slope(nk, 1.0);
  const double score_ulps = 0x1p-24 / unit_roundoff(op.dtype);  // a float32 score's ulp in the dtype's ulps
  // Scores can be exact only with a power-of-four scale (q·scale, q·√scale and k·√scale round not at
  // all) and no softcap; only then are the products checked (ExactSum).
  const bool scores_may_be_exact = is_power_of_four(op.scale) && cap <= 0;
  for (int bh = 0; bh < op.batch * op.heads; ++bh) {
    const std::size_t qo = static_cast<std::size_t>(bh) * nq * dh, ko = static_cast<std::size_t>(bh) * nk * dh,
                      vo = static_cast<std::size_t>(bh) * nk * dv, oo = static_cast<std::size_t>(bh) * nq * dv;
    for (int i = 0; i < nq; ++i) {
      double m = -std::numeric_limits<double>::infinity(), sum = 0, sigma = 0;
      for (int j = 0; j < nk; ++j) {
        double s = 0, s_terms = 0;
        ExactSum exact_in_float32;
        for (int c = 0; c < dh; ++c) {
          const double x = static_cast<double>(op.q[qo + static_cast<std::size_t>(i) * dh + c]) * op.k[ko + static_cast<std::size_t>(j) * dh + c];
          s += x;
          s_terms += std::abs(x);
          if (scores_may_be_exact) exact_in_float32.add(x);
        }
        s *= op.scale;
        s_terms *= scale;
        if (cap > 0) {
          const double t = std::tanh(s / cap);
          slope[j] = 1 - t * t;
          s = cap * t;
          s_terms *= slope[j];
        }
        if (bias) s += (*bias)[static_cast<std::size_t>(i) * nk + j];
        P[j] = mask.visible(i, j) ? s : -std::numeric_limits<double>::infinity();
        const bool rounds = !scores_may_be_exact || !exact_in_float32.exact();
        if (mask.visible(i, j) && std::isfinite(s) && rounds) sigma = std::max(sigma, s_terms);
        m = std::max(m, P[j]);
      }
      const double conditioning = 1 + sigma * score_ulps;  // this row's terms, see above
      for (int j = 0; j < nk; ++j) sum += (P[j] = std::isinf(P[j]) ? 0.0 : std::exp(P[j] - m));
      for (int j = 0; j < nk; ++j) P[j] = sum > 0 ? P[j] / sum : 0.0;
      for (int j = 0; j < nk; ++j)
        for (int c = 0; c < dv; ++c)
          t.out[oo + static_cast<std::size_t>(i) * dv + c] += conditioning * P[j] * std::abs(op.v[vo + static_cast<std::size_t>(j) * dv + c]);
      if (!bwd) continue;
      double mean_abs = 0;
      for (int j = 0; j < nk; ++j) {
        absdP[j] = 0;
        for (int c = 0; c < dv; ++c) {
          const double g = op.d_out[oo + static_cast<std::size_t>(i) * dv + c];
          absdP[j] += std::abs(g * op.v[vo + static_cast<std::size_t>(j) * dv + c]);
          t.dv[vo + static_cast<std::size_t>(j) * dv + c] += conditioning * P[j] * std::abs(g);
        }
        mean_abs += P[j] * absdP[j];
      }
      for (int j = 0; j < nk; ++j) {
        const double A = conditioning * P[j] * (absdP[j] + mean_abs) * scale * slope[j];
        if (A == 0) continue;
        for (int c = 0; c < dh; ++c) {
          t.dq[qo + static_cast<std::size_t>(i) * dh + c] += A * std::abs(op.k[ko + static_cast<std::size_t>(j) * dh + c]);
          t.dk[ko + static_cast<std::size_t>(j) * dh + c] += A * std::abs(op.q[qo + static_cast<std::size_t>(i) * dh + c]);
        }
      }
    }
  }
  return t;
}

}  // namespace

// Term sizes of the whole op, slice by slice (dK, dV summed over a group).
TermSizes op_term_sizes(const AttentionOp& op, const std::vector<HeadSlice>& slices) {
  TermSizes t;
  t.out.assign(op.out_size(), 0.0);
  if (op.backward()) {
    t.dq.assign(op.q_size(), 0.0);
    t.dk.assign(op.k_size(), 0.0);
    t.dv.assign(op.v_size(), 0.0);
  }
  for (const HeadSlice& s : slices) {
    if (s.rows.empty()) continue;
    const TermSizes x = term_sizes(s.op, s.bias.empty() ? nullptr : &s.bias);
    for (int r = 0; r < s.op.n_q; ++r) {
      for (int c = 0; c < op.d_v; ++c) t.out[s.q_row(op, r) * op.d_v + c] = x.out[static_cast<std::size_t>(r) * op.d_v + c];
      if (op.backward())
        for (int c = 0; c < op.d_head; ++c) t.dq[s.q_row(op, r) * op.d_head + c] = x.dq[static_cast<std::size_t>(r) * op.d_head + c];
    }
    if (!op.backward()) continue;
    for (int j = 0; j < s.op.n_k; ++j) {
      for (int c = 0; c < op.d_head; ++c) t.dk[s.k_row(op, j) * op.d_head + c] += x.dk[static_cast<std::size_t>(j) * op.d_head + c];
      for (int c = 0; c < op.d_v; ++c) t.dv[s.k_row(op, j) * op.d_v + c] += x.dv[static_cast<std::size_t>(j) * op.d_v + c];
    }
  }
  return t;
}

}  // namespace symbreak::validate::panel
