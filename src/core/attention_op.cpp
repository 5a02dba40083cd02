#include "symbreak/attention_op.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "symbreak/arith.hpp"

namespace symbreak {

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

std::string AttentionOp::shape_string() const {
  return "b=" + std::to_string(batch) + " h=" + std::to_string(heads) + " n_q=" + std::to_string(n_q) +
         " n_k=" + std::to_string(n_k) + " d=" + std::to_string(d_head) + " d_v=" + std::to_string(d_v) +
         (causal ? " causal" : "") + (mask.empty() ? "" : " mask");
}

namespace {

// Runs attention_head_forward<T> on every (batch, head) of a problem's buffers.
template <class T, class Out>
void for_each_head(const symbreak_attention_problem& p, const AttentionMask& mask, const T& scale, Out&& write) {
  Tensor<T> q(p.n_q, p.d_head), k(p.n_k, p.d_head), v(p.n_k, p.d_v), out, weights;
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < p.heads; ++h) {
      const std::size_t bh = static_cast<std::size_t>(b) * p.heads + h;
      for (std::size_t i = 0; i < q.size(); ++i) q.data[i] = Arith<T>::from_double(p.q[bh * q.size() + i]);
      for (std::size_t i = 0; i < k.size(); ++i) k.data[i] = Arith<T>::from_double(p.k[bh * k.size() + i]);
      for (std::size_t i = 0; i < v.size(); ++i) v.data[i] = Arith<T>::from_double(p.v[bh * v.size() + i]);
      attention_head_forward(out, weights, q, k, v, scale, mask);
      write(bh, out);
    }
}

AttentionMask mask_of(const symbreak_attention_problem& p) {
  AttentionMask m;
  m.causal = p.causal != 0;
  m.n_k = p.n_k;
  if (p.mask) m.allowed.assign(p.mask, p.mask + static_cast<std::size_t>(p.n_q) * p.n_k);
  return m;
}

bool usable(const symbreak_attention_problem* p) {
  return p && p->batch > 0 && p->heads > 0 && p->n_q > 0 && p->n_k > 0 && p->d_head > 0 && p->d_v > 0 && p->q &&
         p->k && p->v && p->out && (!p->causal || p->n_q == p->n_k);
}

}  // namespace

std::vector<Exact> exact_attention(const AttentionOp& op) {
  op.validate();
  std::vector<Exact> result(op.out_size());
  const symbreak_attention_problem p = op.problem(nullptr);
  for_each_head<Exact>(p, op.visibility(), exact_from_double(op.scale), [&](std::size_t bh, const Tensor<Exact>& out) {
    std::copy(out.data.begin(), out.data.end(), result.begin() + static_cast<std::ptrdiff_t>(bh * out.size()));
  });
  return result;
}

int naive_attention(const symbreak_attention_problem* p) {
  if (!usable(p)) return 1;
  try {
    for_each_head<float>(*p, mask_of(*p), p->scale, [&](std::size_t bh, const Tensor<float>& out) {
      std::copy(out.data.begin(), out.data.end(), p->out + bh * out.size());
    });
  } catch (const std::exception&) {
    return 2;  // a query without a visible key
  }
  return 0;
}

// FlashAttention's forward pass: for each block of queries, stream over blocks of keys keeping a
// running max m, a running denominator l and an unnormalised accumulator; when the max grows, the
// old l and accumulator are rescaled by exp(m_old - m_new).
int tiled_attention(const symbreak_attention_problem* p, int block_q, int block_k) {
  if (!usable(p) || block_q < 1 || block_k < 1) return 1;
  const AttentionMask mask = mask_of(*p);
  const int nq = p->n_q, nk = p->n_k, dh = p->d_head, dv = p->d_v;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> m(block_q), l(block_q), acc(static_cast<std::size_t>(block_q) * dv), s(block_k);
  for (int bh = 0; bh < p->batch * p->heads; ++bh) {
    const float* q = p->q + static_cast<std::size_t>(bh) * nq * dh;
    const float* k = p->k + static_cast<std::size_t>(bh) * nk * dh;
    const float* v = p->v + static_cast<std::size_t>(bh) * nk * dv;
    float* out = p->out + static_cast<std::size_t>(bh) * nq * dv;
    for (int i0 = 0; i0 < nq; i0 += block_q) {
      const int iq = std::min(block_q, nq - i0);
      std::fill(m.begin(), m.end(), neg_inf);
      std::fill(l.begin(), l.end(), 0.0f);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int j0 = 0; j0 < nk; j0 += block_k) {
        const int jk = std::min(block_k, nk - j0);
        for (int ii = 0; ii < iq; ++ii) {
          const int i = i0 + ii;
          float block_max = neg_inf;
          for (int jj = 0; jj < jk; ++jj) {
            const int j = j0 + jj;
            if (!mask.visible(i, j)) {
              s[jj] = neg_inf;
              continue;
            }
            float dot = 0;
            for (int c = 0; c < dh; ++c) dot += q[static_cast<std::size_t>(i) * dh + c] * k[static_cast<std::size_t>(j) * dh + c];
            s[jj] = dot * p->scale;
            block_max = std::max(block_max, s[jj]);
          }
          if (block_max == neg_inf) continue;  // nothing visible in this block
          const float m_new = std::max(m[ii], block_max);
          const float rescale = m[ii] == neg_inf ? 0.0f : std::exp(m[ii] - m_new);
          float* a = &acc[static_cast<std::size_t>(ii) * dv];
          for (int c = 0; c < dv; ++c) a[c] *= rescale;
          l[ii] *= rescale;
          for (int jj = 0; jj < jk; ++jj) {
            if (s[jj] == neg_inf) continue;
            const float w = std::exp(s[jj] - m_new);
            l[ii] += w;
            const float* vj = v + static_cast<std::size_t>(j0 + jj) * dv;
            for (int c = 0; c < dv; ++c) a[c] += w * vj[c];
          }
          m[ii] = m_new;
        }
      }
      for (int ii = 0; ii < iq; ++ii) {
        if (l[ii] == 0) return 2;  // a query without a visible key
        for (int c = 0; c < dv; ++c) out[static_cast<std::size_t>(i0 + ii) * dv + c] = acc[static_cast<std::size_t>(ii) * dv + c] / l[ii];
      }
    }
  }
  return 0;
}

}  // namespace symbreak
