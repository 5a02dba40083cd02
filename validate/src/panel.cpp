// The float32 reference panel: correct kernels of different forms (core's reference in float,
// FlashAttention's online softmax and FlashAttention-2's blocked backward, plain sequential loops, the
// explicit softmax Jacobian). Their worst error against the exact result on a case is err_ref, the
// scale of a kernel's allowed error. The naive and tiled kernels are also `--builtin` kernels, on
// version-1 problems and on whole version-2 ops slice by slice.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "panel.hpp"

namespace symbreak::validate {
namespace panel {

int naive_forward(const symbreak_attention_problem* p, const Scores& sc) {
  if (!usable(p)) return 1;
  try {
    forward_heads<float>(*p, p->scale, sc, [&](std::size_t bh, const Tensor<float>& out) {
      std::copy(out.data.begin(), out.data.end(), p->out + bh * out.size());
    });
  } catch (const std::exception&) {
    return 2;  // a query without a visible key
  }
  return 0;
}

int naive_backward(const symbreak_attention_backward_problem* b, const Scores& sc) {
  if (!b || !usable(&b->forward) || !b->d_out || !b->d_q || !b->d_k || !b->d_v) return 1;
  try {
    backward_heads<float>(*b, b->forward.scale, sc, [&](std::size_t bh, const auto& dq, const auto& dk, const auto& dv) {
      std::copy(dq.data.begin(), dq.data.end(), b->d_q + bh * dq.size());
      std::copy(dk.data.begin(), dk.data.end(), b->d_k + bh * dk.size());
      std::copy(dv.data.begin(), dv.data.end(), b->d_v + bh * dv.size());
    });
  } catch (const std::exception&) {
    return 2;
  }
  return 0;
}


// FlashAttention's forward pass: for each block of queries, stream over blocks of keys keeping a
// running max m, a running denominator l and an unnormalised accumulator; when the max grows, the
// old l and accumulator are rescaled by exp(m_old - m_new).
int tiled_forward(const symbreak_attention_problem* p, int block_q, int block_k, const Scores& sc) {
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
            s[jj] = sc(dot * p->scale, i, j);
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
        // l = 0 only when every visible score is −inf (a valid op has a visible key per query):
        // the result is 0/0 = NaN, as in the exact limit, not a refusal of the input.
        for (int c = 0; c < dv; ++c)
          out[static_cast<std::size_t>(i0 + ii) * dv + c] = acc[static_cast<std::size_t>(ii) * dv + c] / l[ii];
      }
    }
  }
  return 0;
}

// One (batch, head) block of a backward problem's buffers, its three gradients zeroed.
struct BackwardHead {
  const float *q, *k, *v, *o, *dO;
  float *dQ, *dK, *dV;
};
BackwardHead backward_head(const symbreak_attention_backward_problem& b, int bh) {
  const symbreak_attention_problem& p = b.forward;
  const std::size_t qo = static_cast<std::size_t>(bh) * p.n_q * p.d_head, ko = static_cast<std::size_t>(bh) * p.n_k * p.d_head,
                    vo = static_cast<std::size_t>(bh) * p.n_k * p.d_v, oo = static_cast<std::size_t>(bh) * p.n_q * p.d_v;
  const BackwardHead h{p.q + qo, p.k + ko, p.v + vo, p.out ? p.out + oo : nullptr, b.d_out + oo, b.d_q + qo, b.d_k + ko, b.d_v + vo};
  std::fill(h.dQ, h.dQ + static_cast<std::size_t>(p.n_q) * p.d_head, 0.0f);
  std::fill(h.dK, h.dK + static_cast<std::size_t>(p.n_k) * p.d_head, 0.0f);
  std::fill(h.dV, h.dV + static_cast<std::size_t>(p.n_k) * p.d_v, 0.0f);
  return h;
}

// FlashAttention-2's backward pass: a first sweep over key blocks recovers each query's logsumexp
// (m_i + log l_i); D_i = rowsum(dO_i ∘ O_i) comes from the forward output; then, key block by key
// block (outer) and query block by query block (inner), P is recomputed from the logsumexp and
//   dV_j += P_ij dO_i,  dS_ij = P_ij (dO_i·v_j − D_i),  dQ_i += scale dS_ij k_j,  dK_j += scale dS_ij q_i.
int tiled_backward(const symbreak_attention_backward_problem* b, int block_q, int block_k, const Scores& sc) {
  if (!b || !usable(&b->forward) || !b->d_out || !b->d_q || !b->d_k || !b->d_v || block_q < 1 || block_k < 1) return 1;
  const symbreak_attention_problem& p = b->forward;
  const AttentionMask mask = mask_of(p);
  const int nq = p.n_q, nk = p.n_k, dh = p.d_head, dv = p.d_v;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> lse(nq), D(nq);
  const auto raw = [&](const float* q, const float* k, int i, int j) {  // scale·q·k, before the softcap
    float dot = 0;
    for (int c = 0; c < dh; ++c) dot += q[static_cast<std::size_t>(i) * dh + c] * k[static_cast<std::size_t>(j) * dh + c];
    return dot * p.scale;
  };
  const auto score = [&](const float* q, const float* k, int i, int j) { return sc(raw(q, k, i, j), i, j); };
  for (int bh = 0; bh < p.batch * p.heads; ++bh) {
    const BackwardHead h = backward_head(*b, bh);
    const float *q = h.q, *k = h.k, *v = h.v, *o = h.o, *dO = h.dO;
    float *dQ = h.dQ, *dK = h.dK, *dV = h.dV;
    for (int i = 0; i < nq; ++i) {
      float m = neg_inf, l = 0;
      for (int j0 = 0; j0 < nk; j0 += block_k)
        for (int j = j0; j < std::min(nk, j0 + block_k); ++j) {
          if (!mask.visible(i, j)) continue;
          const float s = score(q, k, i, j);
          if (s > m) {
            l = (m == neg_inf ? 0.0f : l * std::exp(m - s)) + 1.0f;
            m = s;
          } else {
            l += std::exp(s - m);
          }
        }
      if (l == 0) return 2;
      lse[i] = m + std::log(l);
      float d = 0;
      for (int c = 0; c < dv; ++c) d += dO[static_cast<std::size_t>(i) * dv + c] * o[static_cast<std::size_t>(i) * dv + c];
      D[i] = d;
    }
    for (int j0 = 0; j0 < nk; j0 += block_k)
      for (int i0 = 0; i0 < nq; i0 += block_q)
        for (int j = j0; j < std::min(nk, j0 + block_k); ++j)
          for (int i = i0; i < std::min(nq, i0 + block_q); ++i) {
            if (!mask.visible(i, j)) continue;
            const float P = std::exp(score(q, k, i, j) - lse[i]);
            float dp = 0;
            for (int c = 0; c < dv; ++c) {
              dV[static_cast<std::size_t>(j) * dv + c] += P * dO[static_cast<std::size_t>(i) * dv + c];
              dp += dO[static_cast<std::size_t>(i) * dv + c] * v[static_cast<std::size_t>(j) * dv + c];
            }
            const float ds = P * (dp - D[i]) * p.scale * sc.slope(raw(q, k, i, j));
            for (int c = 0; c < dh; ++c) {
              dQ[static_cast<std::size_t>(i) * dh + c] += ds * k[static_cast<std::size_t>(j) * dh + c];
              dK[static_cast<std::size_t>(j) * dh + c] += ds * q[static_cast<std::size_t>(i) * dh + c];
            }
          }
  }
  return 0;
}

// The plainest float32 loops (as most hand-written kernels are): dot products and weighted sums
// accumulated one term after another, exp via std::exp. Their rounding grows with the number of keys
// faster than a blocked GEMM's, and they are correct, so the tolerance panel includes them.

// Row i of one head's softmax as the plain loops compute it: each score a dot product summed term
// after term, softcapped and biased, −inf where hidden, then exp(s − max) divided by the row's sum.
// slope[j] is the softcap's derivative at the raw score (1 without a softcap).
void plain_softmax_row(const float* q, const float* k, int i, int nk, int dh, float scale, const AttentionMask& mask,
                       const Scores& sc, float* P, float* slope) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  float m = neg_inf, sum = 0;
  for (int j = 0; j < nk; ++j) {
    float s = 0;
    for (int c = 0; c < dh; ++c) s += q[static_cast<std::size_t>(i) * dh + c] * k[static_cast<std::size_t>(j) * dh + c];
    slope[j] = sc.slope(s * scale);
    P[j] = mask.visible(i, j) ? sc(s * scale, i, j) : neg_inf;
    m = std::max(m, P[j]);
  }
  for (int j = 0; j < nk; ++j) sum += (P[j] = P[j] == neg_inf ? 0.0f : std::exp(P[j] - m));
  for (int j = 0; j < nk; ++j) P[j] /= sum;
}

int sequential_attention(const symbreak_attention_problem* p, const Scores& sc) {
  const AttentionMask mask = mask_of(*p);
  const int nq = p->n_q, nk = p->n_k, dh = p->d_head, dv = p->d_v;
  std::vector<float> P(nk), slope(nk);
  for (int bh = 0; bh < p->batch * p->heads; ++bh) {
    const float* q = p->q + static_cast<std::size_t>(bh) * nq * dh;
    const float* k = p->k + static_cast<std::size_t>(bh) * nk * dh;
    const float* v = p->v + static_cast<std::size_t>(bh) * nk * dv;
    float* out = p->out + static_cast<std::size_t>(bh) * nq * dv;
    for (int i = 0; i < nq; ++i) {
      plain_softmax_row(q, k, i, nk, dh, p->scale, mask, sc, P.data(), slope.data());
      for (int c = 0; c < dv; ++c) {
        float acc = 0;
        for (int j = 0; j < nk; ++j) acc += P[j] * v[static_cast<std::size_t>(j) * dv + c];
        out[static_cast<std::size_t>(i) * dv + c] = acc;
      }
    }
  }
  return 0;
}

// The same plain loops for the backward pass: P recomputed, dP = dO·vᵀ, D = Σ_j P dP, dS = P (dP − D).
int sequential_attention_backward(const symbreak_attention_backward_problem* b, const Scores& sc) {
  const symbreak_attention_problem& p = b->forward;
  const AttentionMask mask = mask_of(p);
  const int nq = p.n_q, nk = p.n_k, dh = p.d_head, dv = p.d_v;
  std::vector<float> P(nk), dP(nk), slope(nk);
  for (int bh = 0; bh < p.batch * p.heads; ++bh) {
    const BackwardHead h = backward_head(*b, bh);
    for (int i = 0; i < nq; ++i) {
      plain_softmax_row(h.q, h.k, i, nk, dh, p.scale, mask, sc, P.data(), slope.data());
      float D = 0;
      for (int j = 0; j < nk; ++j) {
        float dp = 0;
        for (int c = 0; c < dv; ++c) {
          dp += h.dO[static_cast<std::size_t>(i) * dv + c] * h.v[static_cast<std::size_t>(j) * dv + c];
          h.dV[static_cast<std::size_t>(j) * dv + c] += P[j] * h.dO[static_cast<std::size_t>(i) * dv + c];
        }
        dP[j] = dp;
        D += P[j] * dp;
      }
      for (int j = 0; j < nk; ++j) {
        const float g = P[j] * (dP[j] - D) * p.scale * slope[j];
        for (int c = 0; c < dh; ++c) {
          h.dQ[static_cast<std::size_t>(i) * dh + c] += g * h.k[static_cast<std::size_t>(j) * dh + c];
          h.dK[static_cast<std::size_t>(j) * dh + c] += g * h.q[static_cast<std::size_t>(i) * dh + c];
        }
      }
    }
  }
  return 0;
}

// The explicit softmax Jacobian (llm.c's CPU attention_backward): dS_ij = Σ_k P_ik (δ_kj − P_ij) dP_ik,
// one rounded sum per key, instead of P_ij (dP_ij − D_i). Correct, and at uniform P its rounding
// is about an ulp of the cancelling terms, larger than the rowsum form's; the panel includes it so
// that err_ref covers it (issue 17: a correct backward of this form was flagged at n = 130).
int jacobian_attention_backward(const symbreak_attention_backward_problem* b, const Scores& sc) {
  const symbreak_attention_problem& p = b->forward;
  const AttentionMask mask = mask_of(p);
  const int nq = p.n_q, nk = p.n_k, dh = p.d_head, dv = p.d_v;
  std::vector<float> P(nk), dP(nk), dS(nk), slope(nk);
  for (int bh = 0; bh < p.batch * p.heads; ++bh) {
    const BackwardHead h = backward_head(*b, bh);
    for (int i = 0; i < nq; ++i) {
      plain_softmax_row(h.q, h.k, i, nk, dh, p.scale, mask, sc, P.data(), slope.data());
      for (int j = 0; j < nk; ++j) {
        dP[j] = 0;
        for (int c = 0; c < dv; ++c) {
          dP[j] += h.v[static_cast<std::size_t>(j) * dv + c] * h.dO[static_cast<std::size_t>(i) * dv + c];
          h.dV[static_cast<std::size_t>(j) * dv + c] += P[j] * h.dO[static_cast<std::size_t>(i) * dv + c];
        }
      }
      for (int j = 0; j < nk; ++j) {
        dS[j] = 0;
        for (int t = 0; t < nk; ++t) dS[j] += P[t] * ((t == j ? 1.0f : 0.0f) - P[j]) * dP[t];
        dS[j] *= slope[j];
      }
      for (int j = 0; j < nk; ++j)
        for (int c = 0; c < dh; ++c) {
          h.dQ[static_cast<std::size_t>(i) * dh + c] += h.k[static_cast<std::size_t>(j) * dh + c] * dS[j] * p.scale;
          h.dK[static_cast<std::size_t>(j) * dh + c] += h.q[static_cast<std::size_t>(i) * dh + c] * dS[j] * p.scale;
        }
    }
  }
  return 0;
}

// symbreak's float32 forward of one slice (the output a backward call is given).
std::vector<float> slice_forward(const HeadSlice& s) {
  std::vector<float> out(s.op.out_size());
  const symbreak_attention_problem p = s.op.problem(out.data());
  if (naive_forward(&p, scores_of(s)) != 0) throw std::logic_error("a reference kernel refused a valid op");
  round_in_place(s.op.dtype, out);  // what a kernel of that dtype is handed
  return out;
}

}  // namespace panel

using namespace panel;

int naive_attention(const symbreak_attention_problem* p) { return naive_forward(p, {}); }
int naive_attention_backward(const symbreak_attention_backward_problem* b) { return naive_backward(b, {}); }
int tiled_attention(const symbreak_attention_problem* p, int block_q, int block_k) { return tiled_forward(p, block_q, block_k, Scores{}); }
int tiled_attention_backward(const symbreak_attention_backward_problem* b, int block_q, int block_k) {
  return tiled_backward(b, block_q, block_k, Scores{});
}

// ---- Version 2: symbreak's kernels on the whole op, slice by slice ---------------------------------

namespace {

template <class Kernel>
int forward_v2_with(const symbreak_attention_problem_v2* p, Kernel kernel) {
  if (!p || p->struct_size < static_cast<int>(sizeof(symbreak_attention_problem_v2)) || !p->q || !p->k || !p->v || !p->out)
    return 1;
  try {
    AttentionOp op = op_from_problem(*p);
    op.validate();
    const Assembled a = assemble(op, head_slices(op), false, [&](const HeadSlice& s, std::vector<float>& out, auto&, auto&, auto&) {
      const symbreak_attention_problem v1 = s.op.problem(out.data());
      return kernel(&v1, scores_of(s));
    });
    write_strided(op.dtype, p->out, p->out_strides, a.out, op.batch, op.heads, op.n_q, op.d_v);
  } catch (const std::exception&) {
    return 2;
  }
  return 0;
}

template <class Kernel>
int backward_v2_with(const symbreak_attention_backward_problem_v2* b, Kernel kernel) {
  if (!b || b->struct_size < static_cast<int>(sizeof(symbreak_attention_backward_problem_v2)) || !b->forward || !b->d_out ||
      !b->d_q || !b->d_k || !b->d_v)
    return 1;
  const symbreak_attention_problem_v2& p = *b->forward;
  if (p.struct_size < static_cast<int>(sizeof(symbreak_attention_problem_v2)) || !p.q || !p.k || !p.v) return 1;
  try {
    AttentionOp op = op_from_problem(p);
    op.d_out = read_strided(op.dtype, b->d_out, p.out_strides, p.batch, p.heads, p.n_q, p.d_v);  // d_out has out's strides
    op.validate();
    const Assembled a = assemble(op, head_slices(op), true, [&](const HeadSlice& s, auto&, auto& dq, auto& dk, auto& dv) {
      const std::vector<float> o = slice_forward(s);
      const auto v1 = s.op.backward_problem(o.data(), dq.data(), dk.data(), dv.data());
      return kernel(&v1, scores_of(s));
    });
    const int kvh = op.kv_heads();
    write_strided(op.dtype, b->d_q, p.q_strides, a.dq, op.batch, op.heads, op.n_q, op.d_head);
    write_strided(op.dtype, b->d_k, p.k_strides, a.dk, op.batch, kvh, op.n_k, op.d_head);
    write_strided(op.dtype, b->d_v, p.v_strides, a.dv, op.batch, kvh, op.n_k, op.d_v);
  } catch (const std::exception&) {
    return 2;
  }
  return 0;
}

}  // namespace

int naive_attention_v2(const symbreak_attention_problem_v2* p) { return forward_v2_with(p, naive_forward); }
int tiled_attention_v2(const symbreak_attention_problem_v2* p, int block_q, int block_k) {
  return forward_v2_with(p, [=](const symbreak_attention_problem* x, const Scores& sc) { return tiled_forward(x, block_q, block_k, sc); });
}
int naive_attention_backward_v2(const symbreak_attention_backward_problem_v2* b) { return backward_v2_with(b, naive_backward); }
int tiled_attention_backward_v2(const symbreak_attention_backward_problem_v2* b, int block_q, int block_k) {
  return backward_v2_with(b, [=](const symbreak_attention_backward_problem* x, const Scores& sc) { return tiled_backward(x, block_q, block_k, sc); });
}

}  // namespace symbreak::validate
