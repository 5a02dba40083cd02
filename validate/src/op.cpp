#include "symbreak/validate/op.hpp"

#include <cmath>
#include <stdexcept>

namespace symbreak::validate {

AttentionMask AttentionOp::visibility() const {
  AttentionMask m;
  m.causal = causal;
  m.allowed = mask;
  m.n_k = n_k;
  return m;
}

void AttentionOp::validate() const {
  if (batch < 1 || heads < 1 || n_q < 1 || n_k < 1 || d_head < 1 || d_v < 1)
    throw std::invalid_argument("attention op: every size must be at least 1 (" + shape_string() + ")");
  if (q.size() != q_size() || k.size() != k_size() || v.size() != v_size())
    throw std::invalid_argument("attention op: q, k or v has the wrong number of elements for " + shape_string());
  if (!mask.empty() && mask.size() != static_cast<std::size_t>(n_q) * n_k)
    throw std::invalid_argument("attention op: the mask must be n_q × n_k");
  if (!d_out.empty() && d_out.size() != out_size())
    throw std::invalid_argument("attention op: d_out must have batch × heads × n_q × d_v elements");
  if (causal && n_q != n_k) throw std::invalid_argument("attention op: a causal op needs n_q == n_k");
  if (!std::isfinite(scale)) throw std::invalid_argument("attention op: the scale must be finite");
  const AttentionMask m = visibility();
  for (int i = 0; i < n_q; ++i) {
    bool any = false;
    for (int j = 0; j < n_k && !any; ++j) any = m.visible(i, j);
    if (!any) throw std::invalid_argument("attention op: query " + std::to_string(i) + " sees no key");
  }
}

symbreak_attention_problem AttentionOp::problem(float* out) const {
  symbreak_attention_problem p{};
  p.batch = batch;
  p.heads = heads;
  p.n_q = n_q;
  p.n_k = n_k;
  p.d_head = d_head;
  p.d_v = d_v;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.mask = mask.empty() ? nullptr : mask.data();
  p.causal = causal ? 1 : 0;
  p.scale = scale;
  p.out = out;
  return p;
}

symbreak_attention_backward_problem AttentionOp::backward_problem(const float* o, float* dq, float* dk, float* dv) const {
  symbreak_attention_backward_problem b{};
  b.forward = problem(const_cast<float*>(o));  // read-only in a backward call (attention_abi.h)
  b.d_out = d_out.data();
  b.d_q = dq;
  b.d_k = dk;
  b.d_v = dv;
  return b;
}

std::string AttentionOp::shape_string() const {
  return "b=" + std::to_string(batch) + " h=" + std::to_string(heads) + " n_q=" + std::to_string(n_q) +
         " n_k=" + std::to_string(n_k) + " d=" + std::to_string(d_head) + " d_v=" + std::to_string(d_v) +
         (causal ? " causal" : "") + (mask.empty() ? "" : " mask") + (d_out.empty() ? "" : " backward");
}

}  // namespace symbreak::validate
