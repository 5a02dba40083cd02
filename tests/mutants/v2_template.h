/* A correct version-2 attention plugin (forward and backward, plain loops over strided tensors), with
 * hooks where the history corpus plants the bugs that real kernels shipped. A file defines the hooks
 * it changes, then includes this one. The defaults are the op of attention_abi.h:
 *   KV_HEAD(h, heads, heads_kv)   the KV head a query head reads: repeat-interleave
 *   OFFSET(p, b, kv_len)          the aligned query offset of batch item b
 *   CAUSAL_AT(at)                 the last key the causal condition admits (inclusive)
 *   WINDOW_LO(at, left)           the first key a window admits (inclusive)
 *   KEY_LIMIT(p, b, kv_len)       forward: keys at or past it are padding
 *   BWD_KEY_LIMIT(p, b, kv_len)   backward: the same
 *   BWD_WINDOW                    1: the backward pass applies the window too
 *   BWD_SOFTCAP                   1: the backward pass multiplies dS by the softcap's slope
 *   BWD_KV_FROM(h, group)         1: query head h adds to its KV head's dK, dV (all heads of a group do)
 *   EMPTY_ROW(out, n)             what a row with no visible key writes (zeros)
 *   ADD_MASKED_KEYS               1: the weighted sum runs over every key, masked ones with weight 0
 *   CAP(s, c)                     the soft-capped score, c > 0: c·tanh(s/c)
 *   CAP_SLOPE(s, c)               its derivative in s, which the backward multiplies dS by: 1 − tanh²(s/c)
 *   MASKED_SCORE(p)               the score a masked key gets before the softmax (−inf: no weight)
 *   ALIBI_TERM(p, b, h, i, j, kv_len)   ALiBi's addition to score (i, j): −slope_h·|i + offset − j|
 *   ADDITIVE_MASK(p)              nonzero: the mask is an additive −FLT_MAX on the biased score (the key stays in the softmax)
 *   SCORE_OF(dot, scale)          the raw score from q·k (float32: dot·scale)
 *   P_STORE(x), DS_STORE(x)       how P (before P·V and dV) and dS (before dQ, dK) are stored: float32 as is;
 *                                 lowp_template.h rounds them to the dtype, as FlashAttention does
 *   FEATURES                      the SYMBREAK_FEATURE_* bits declared */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "symbreak/attention_abi.h"

#ifndef KV_HEAD
#define KV_HEAD(h, heads, heads_kv) ((h) / ((heads) / (heads_kv)))
#endif
#ifndef OFFSET
#define OFFSET(p, b, kv_len) ((p)->alignment == SYMBREAK_ALIGN_BOTTOM_RIGHT ? (kv_len) - (p)->n_q : 0)
#endif
#ifndef CAUSAL_AT
#define CAUSAL_AT(at) (at)
#endif
#ifndef WINDOW_LO
#define WINDOW_LO(at, left) ((at) - (left))
#endif
#ifndef KEY_LIMIT
#define KEY_LIMIT(p, b, kv_len) (kv_len)
#endif
#ifndef BWD_KEY_LIMIT
#define BWD_KEY_LIMIT(p, b, kv_len) (kv_len)
#endif
#ifndef EMPTY_ROW
#define EMPTY_ROW(out, n)                  \
  do {                                     \
    for (int c_ = 0; c_ < (n); ++c_) (out)[c_] = 0.0f; \
  } while (0)
#endif
#ifndef BWD_WINDOW
#define BWD_WINDOW 1
#endif
#ifndef BWD_KV_FROM
#define BWD_KV_FROM(h, group) 1
#endif
#ifndef BWD_SOFTCAP
#define BWD_SOFTCAP 1
#endif
#ifndef ADD_MASKED_KEYS
#define ADD_MASKED_KEYS 0
#endif
#ifndef CAP
#define CAP(s, c) ((c) * tanhf((s) / (c)))
#endif
#ifndef CAP_SLOPE
#define CAP_SLOPE(s, c) (1.0f - tanhf((s) / (c)) * tanhf((s) / (c)))
#endif
#ifndef MASKED_SCORE
#define MASKED_SCORE(p) (-INFINITY)
#endif
#ifndef ALIBI_TERM
#define ALIBI_TERM(p, b, h, i, j, kv_len) (-(p)->alibi_slopes[h] * fabsf((float)((i) + OFFSET(p, b, kv_len) - (j))))
#endif
#ifndef ADDITIVE_MASK
#define ADDITIVE_MASK(p) 0
#endif
#ifndef SCORE_OF
#define SCORE_OF(dot, scale) ((dot) * (scale))
#endif
#ifndef P_STORE
#define P_STORE(x) (x)
#endif
#ifndef DS_STORE
#define DS_STORE(x) (x)
#endif
#ifndef FEATURES
#define FEATURES                                                                                                   \
  (SYMBREAK_FEATURE_ALIGN_BOTTOM_RIGHT | SYMBREAK_FEATURE_GQA | SYMBREAK_FEATURE_WINDOW | SYMBREAK_FEATURE_PADDING | \
   SYMBREAK_FEATURE_MASK_PER_HEAD | SYMBREAK_FEATURE_EMPTY_ROWS | SYMBREAK_FEATURE_STRIDES | SYMBREAK_FEATURE_SOFTCAP | \
   SYMBREAK_FEATURE_BIAS | SYMBREAK_FEATURE_ALIBI)
#endif
#include <float.h>

int symbreak_attention_abi_version(void) { return 2; }

int symbreak_attention_capabilities_v2(symbreak_attention_caps_v2* caps) {
  caps->features = FEATURES;
  return 0;
}

static int kv_len_of(const symbreak_attention_problem_v2* p, int b) { return p->kv_lens ? p->kv_lens[b] : p->n_k; }

static int visible(const symbreak_attention_problem_v2* p, int b, int h, int i, int j, int limit, int bwd) {
  const int kv_len = kv_len_of(p, b);
  if (j >= limit) return 0;
  const int at = i + OFFSET(p, b, kv_len);
  if (p->causal && j > CAUSAL_AT(at)) return 0;
  const int window = !bwd || BWD_WINDOW;
  if (window && p->window_left >= 0 && j < WINDOW_LO(at, p->window_left)) return 0;
  if (window && p->window_right >= 0 && j > at + p->window_right) return 0;
  if (p->mask) {
    const size_t row = p->mask_per_head ? ((size_t)b * p->heads + h) * p->n_q + i : (size_t)i;
    if (!p->mask[row * p->n_k + j]) return 0;
  }
  return 1;
}

#define AT(base, s, b, h, r) ((base) + (b) * (s)[0] + (h) * (s)[1] + (r) * (s)[2])

/* P[j] for one query row; returns 0 when the row sees no key. With `slope`, also the softcap's
 * derivative at each visible key's score (1 without a softcap). */
static int softmax_row(const symbreak_attention_problem_v2* p, int b, int h, int i, int limit, int bwd, float* P, float* slope) {
  const int g = KV_HEAD(h, p->heads, p->heads_kv);
  const float* q = AT(p->q, p->q_strides, b, h, i);
  float m = -INFINITY, sum = 0;
  int any = 0;
  const int kv_len = kv_len_of(p, b);
  for (int j = 0; j < p->n_k; ++j) {
    P[j] = MASKED_SCORE(p);
    if (slope) slope[j] = 0.0f;
    const int seen = visible(p, b, h, i, j, limit, bwd);
    if (!seen && !(ADDITIVE_MASK(p) && j < limit)) {
      if (P[j] > m) m = P[j];
      continue;
    }
    const float* k = AT(p->k, p->k_strides, b, g, j);
    float s = 0;
    for (int c = 0; c < p->d_head; ++c) s += q[c] * k[c];
    P[j] = SCORE_OF(s, p->scale);
    if (p->softcap > 0) {
      if (slope) slope[j] = CAP_SLOPE(P[j], p->softcap);
      P[j] = CAP(P[j], p->softcap);
    } else if (slope) {
      slope[j] = 1.0f;
    }
    if (p->bias) P[j] += p->bias[((size_t)h * p->n_q + i) * p->n_k + j];
    if (p->alibi_slopes) P[j] += ALIBI_TERM(p, b, h, i, j, kv_len);
    if (!seen) P[j] += -FLT_MAX; /* ADDITIVE_MASK */
    if (P[j] == -INFINITY) continue; /* a −inf bias hides the key */
    if (P[j] > m) m = P[j];
    any = 1;
  }
  if (!any) m = -INFINITY;
  for (int j = 0; j < p->n_k; ++j) sum += (P[j] = P[j] == -INFINITY ? 0.0f : expf(P[j] - m));
  for (int j = 0; j < p->n_k; ++j) P[j] /= sum; /* an empty row: 0/0 */
  return any;
}

int symbreak_attention_forward_v2(const symbreak_attention_problem_v2* p) {
  float* P = malloc(sizeof(float) * (size_t)p->n_k);
  if (!P) return 1;
  for (int b = 0; b < p->batch; ++b)
    for (int h = 0; h < p->heads; ++h)
      for (int i = 0; i < p->n_q; ++i) {
        const int g = KV_HEAD(h, p->heads, p->heads_kv), limit = KEY_LIMIT(p, b, kv_len_of(p, b));
        float* out = AT(p->out, p->out_strides, b, h, i);
        if (!softmax_row(p, b, h, i, limit, 0, P, NULL)) {
          EMPTY_ROW(out, p->d_v);
          continue;
        }
        for (int c = 0; c < p->d_v; ++c) {
          float acc = 0;
          for (int j = 0; j < p->n_k; ++j)
            if (ADD_MASKED_KEYS ? j < p->n_k : P[j] != 0.0f) acc += P_STORE(P[j]) * AT(p->v, p->v_strides, b, g, j)[c];
          out[c] = acc;
        }
      }
  free(P);
  return 0;
}

int symbreak_attention_backward_v2(const symbreak_attention_backward_problem_v2* bp) {
  const symbreak_attention_problem_v2* p = bp->forward;
  float *P = malloc(sizeof(float) * (size_t)p->n_k), *dP = malloc(sizeof(float) * (size_t)p->n_k),
        *slope = malloc(sizeof(float) * (size_t)p->n_k);
  if (!P || !dP || !slope) return 1;
  for (int b = 0; b < p->batch; ++b) {
    for (int h = 0; h < p->heads; ++h)
      for (int i = 0; i < p->n_q; ++i) memset(AT(bp->d_q, p->q_strides, b, h, i), 0, sizeof(float) * (size_t)p->d_head);
    for (int g = 0; g < p->heads_kv; ++g)
      for (int j = 0; j < p->n_k; ++j) {
        memset(AT(bp->d_k, p->k_strides, b, g, j), 0, sizeof(float) * (size_t)p->d_head);
        memset(AT(bp->d_v, p->v_strides, b, g, j), 0, sizeof(float) * (size_t)p->d_v);
      }
  }
  for (int b = 0; b < p->batch; ++b)
    for (int h = 0; h < p->heads; ++h)
      for (int i = 0; i < p->n_q; ++i) {
        const int g = KV_HEAD(h, p->heads, p->heads_kv), limit = BWD_KEY_LIMIT(p, b, kv_len_of(p, b));
        if (!softmax_row(p, b, h, i, limit, 1, P, slope)) continue; /* an empty row: zero gradients */
        const int adds_kv = BWD_KV_FROM(h, p->heads / p->heads_kv);
        const float* dO = AT(bp->d_out, p->out_strides, b, h, i);
        const float* q = AT(p->q, p->q_strides, b, h, i);
        float* dq = AT(bp->d_q, p->q_strides, b, h, i);
        float D = 0;
        for (int j = 0; j < p->n_k; ++j) {
          dP[j] = 0;
          if (P[j] == 0.0f) continue;
          const float* v = AT(p->v, p->v_strides, b, g, j);
          float* dv = AT(bp->d_v, p->v_strides, b, g, j);
          for (int c = 0; c < p->d_v; ++c) {
            dP[j] += dO[c] * v[c];
            if (adds_kv) dv[c] += P_STORE(P[j]) * dO[c];
          }
          D += P[j] * dP[j];
        }
        for (int j = 0; j < p->n_k; ++j) {
          if (P[j] == 0.0f) continue;
          const float ds = DS_STORE(P[j] * (dP[j] - D)) * p->scale * (BWD_SOFTCAP ? slope[j] : 1.0f);
          const float* k = AT(p->k, p->k_strides, b, g, j);
          float* dk = AT(bp->d_k, p->k_strides, b, g, j);
          for (int c = 0; c < p->d_head; ++c) {
            dq[c] += ds * k[c];
            if (adds_kv) dk[c] += ds * q[c];
          }
        }
      }
  free(P);
  free(dP);
  free(slope);
  return 0;
}

