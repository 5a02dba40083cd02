// How a kernel author runs the whole op-level suite on their own kernel type in their GoogleTest binary.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <symbreak/validate/gtest.hpp>

namespace {

// The user's kernel: a two-pass softmax written from scratch (no symbreak code inside).
struct TwoPassKernel {
  int operator()(const symbreak_attention_problem& p) const {
    std::vector<float> s(p.n_k);
    for (int bh = 0; bh < p.batch * p.heads; ++bh)
      for (int i = 0; i < p.n_q; ++i) {
        const float* q = p.q + (static_cast<std::size_t>(bh) * p.n_q + i) * p.d_head;
        float m = -INFINITY, sum = 0;
        for (int j = 0; j < p.n_k; ++j) {
          const bool visible = (!p.causal || j <= i) && (!p.mask || p.mask[static_cast<std::size_t>(i) * p.n_k + j]);
          const float* k = p.k + (static_cast<std::size_t>(bh) * p.n_k + j) * p.d_head;
          float dot = 0;
          for (int c = 0; c < p.d_head; ++c) dot += q[c] * k[c];
          s[j] = visible ? dot * p.scale : -INFINITY;
          m = std::max(m, s[j]);
        }
        for (int j = 0; j < p.n_k; ++j) sum += (s[j] = s[j] == -INFINITY ? 0.0f : std::exp(s[j] - m));
        float* out = p.out + (static_cast<std::size_t>(bh) * p.n_q + i) * p.d_v;
        for (int c = 0; c < p.d_v; ++c) {
          float acc = 0;
          for (int j = 0; j < p.n_k; ++j)  // a masked key (weight 0) adds nothing, even a NaN value (MASKED-INDEPENDENCE)
            if (s[j] != 0.0f) acc += s[j] * p.v[(static_cast<std::size_t>(bh) * p.n_k + j) * p.d_v + c];
          out[c] = acc / sum;
        }
      }
    return 0;
  }
};

SYMBREAK_ATTENTION_SUITE(TwoPassKernelSuite, TwoPassKernel);

// A kernel that implements only what most production kernels do: the causal mask, the default scale,
// d_v == d_head. It says so, and refuses anything else; the suite never asks it for anything else, and
// the properties about other masks (KV-PERM, Q-PERM, MASK) are skipped as not applicable.
struct CausalOnlyKernel {
  static symbreak::validate::Capabilities capabilities() {
    symbreak::validate::Capabilities c;
    c.apply({"causal", "scale=default", "dv=dhead"}, "CausalOnlyKernel");
    return c;
  }
  int operator()(const symbreak_attention_problem& p) const {
    if (!p.causal || p.mask || p.d_v != p.d_head || p.scale != 1.0f / std::sqrt(static_cast<float>(p.d_head))) return 7;
    return TwoPassKernel{}(p);
  }
};

SYMBREAK_ATTENTION_SUITE(CausalOnlyKernelSuite, CausalOnlyKernel);

}  // namespace
