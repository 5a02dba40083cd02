/* A correct causal-only kernel whose backward pass goes through the explicit softmax Jacobian, the
 * way llm.c's CPU reference does it (karpathy/llm.c, train_gpt2.c: attention_forward and
 * attention_backward; ported to the ABI's [batch][heads][n][d] layout, with the forward's running max
 * started at -inf instead of llm.c's -10000, the one bug there):
 *
 *   dP_ij = dO_i · v_j,   dS_ij = Σ_k P_ik (δ_kj − P_ij) dP_ik   (one rounded sum per key),
 *   dQ_i  = scale Σ_j dS_ij k_j,   dK_j = scale Σ_i dS_ij q_i,   dV_j = Σ_i P_ij dO_i.
 *
 * It is correct, but its float32 rounding differs from the D_i = rowsum(dO ∘ O) form: where all
 * scores are equal (P uniform) an exact dQ of 0 comes out as a difference of terms of size ~300.
 * symbreak once flagged that as a BWD-ROBUST failure (issue 17); the tolerance now scales with the
 * size of the summed terms, and this kernel must pass on every seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "symbreak/attention_abi.h"

int symbreak_attention_abi_version(void) { return 1; }

static int supported(const symbreak_attention_problem* p) {
  return p->causal && !p->mask && p->n_q == p->n_k && p->d_v == p->d_head && p->scale == 1.0f / sqrtf((float)p->d_head);
}

int symbreak_attention_capabilities(symbreak_attention_caps* caps) {
  caps->mask_modes = SYMBREAK_MASK_CAUSAL;
  caps->cross = 0;
  caps->any_scale = 0;
  caps->dv_differs = 0;
  return 0;
}

/* One (batch, head): the attention weights att[t][t2] for t2 <= t (0 above the diagonal) and, when
 * out is not NULL, the output. */
static void head_forward(const float* q, const float* k, const float* v, int T, int hs, float scale, float* att, float* out) {
  for (int t = 0; t < T; ++t) {
    float* row = att + (size_t)t * T;
    float maxval = -INFINITY;
    for (int t2 = 0; t2 <= t; ++t2) {
      float val = 0.0f;
      for (int i = 0; i < hs; ++i) val += q[(size_t)t * hs + i] * k[(size_t)t2 * hs + i];
      val *= scale;
      if (val > maxval) maxval = val;
      row[t2] = val;
    }
    float expsum = 0.0f;
    for (int t2 = 0; t2 <= t; ++t2) {
      const float e = expf(row[t2] - maxval);
      expsum += e;
      row[t2] = e;
    }
    const float inv = expsum == 0.0f ? 0.0f : 1.0f / expsum;
    for (int t2 = 0; t2 < T; ++t2) row[t2] = t2 <= t ? row[t2] * inv : 0.0f;
    if (!out) continue;
    for (int i = 0; i < hs; ++i) out[(size_t)t * hs + i] = 0.0f;
    for (int t2 = 0; t2 <= t; ++t2)
      for (int i = 0; i < hs; ++i) out[(size_t)t * hs + i] += row[t2] * v[(size_t)t2 * hs + i];
  }
}

int symbreak_attention_forward(const symbreak_attention_problem* p) {
  if (!supported(p)) return 7;
  const int T = p->n_q, hs = p->d_head;
  float* att = malloc(sizeof(float) * (size_t)T * T);
  if (!att) return 1;
  for (size_t bh = 0; bh < (size_t)p->batch * p->heads; ++bh)
    head_forward(p->q + bh * T * hs, p->k + bh * T * hs, p->v + bh * T * hs, T, hs, p->scale, att, p->out + bh * T * hs);
  free(att);
  return 0;
}

int symbreak_attention_backward(const symbreak_attention_backward_problem* b) {
  const symbreak_attention_problem* p = &b->forward;
  if (!supported(p)) return 7;
  const int T = p->n_q, hs = p->d_head;
  float* att = malloc(sizeof(float) * (size_t)T * T);
  float* datt = malloc(sizeof(float) * (size_t)T);
  float* dpreatt = malloc(sizeof(float) * (size_t)T);
  if (!att || !datt || !dpreatt) return 1;
  for (size_t bh = 0; bh < (size_t)p->batch * p->heads; ++bh) {
    const float *q = p->q + bh * T * hs, *k = p->k + bh * T * hs, *v = p->v + bh * T * hs, *dout = b->d_out + bh * T * hs;
    float *dq = b->d_q + bh * T * hs, *dk = b->d_k + bh * T * hs, *dv = b->d_v + bh * T * hs;
    memset(dq, 0, sizeof(float) * (size_t)T * hs);
    memset(dk, 0, sizeof(float) * (size_t)T * hs);
    memset(dv, 0, sizeof(float) * (size_t)T * hs);
    head_forward(q, k, v, T, hs, p->scale, att, NULL);  /* llm.c keeps att from the forward pass */
    for (int t = 0; t < T; ++t) {
      const float* row = att + (size_t)t * T;
      for (int t2 = 0; t2 <= t; ++t2) datt[t2] = dpreatt[t2] = 0.0f;
      /* through the value accumulation */
      for (int t2 = 0; t2 <= t; ++t2)
        for (int i = 0; i < hs; ++i) {
          datt[t2] += v[(size_t)t2 * hs + i] * dout[(size_t)t * hs + i];
          dv[(size_t)t2 * hs + i] += row[t2] * dout[(size_t)t * hs + i];
        }
      /* through the softmax, one Jacobian entry at a time */
      for (int t2 = 0; t2 <= t; ++t2)
        for (int t3 = 0; t3 <= t; ++t3) {
          const float indicator = t2 == t3 ? 1.0f : 0.0f;
          dpreatt[t3] += row[t2] * (indicator - row[t3]) * datt[t2];
        }
      /* through q·k and the scale */
      for (int t2 = 0; t2 <= t; ++t2)
        for (int i = 0; i < hs; ++i) {
          dq[(size_t)t * hs + i] += k[(size_t)t2 * hs + i] * dpreatt[t2] * p->scale;
          dk[(size_t)t2 * hs + i] += q[(size_t)t * hs + i] * dpreatt[t2] * p->scale;
        }
    }
  }
  free(att);
  free(datt);
  free(dpreatt);
  return 0;
}
