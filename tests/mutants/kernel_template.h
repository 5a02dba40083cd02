/* A straightforward C attention kernel for the ABI, written so that each mutant changes one thing.
 * Define hooks before including it:
 *   VISIBLE(p, i, j)      may query i attend key j
 *   SCALE(p)              the factor applied to q·k
 *   K_HEAD(p, b, h)       which (batch, head) block of K to read  (default: the same one)
 *   V_BATCH(p, b)         which batch of V to read
 *   SCORE_BIAS(j)         added to the score of key j
 *   ACC_T                 the accumulator type
 *   SUBTRACT_MAX          1 to subtract the row max before exp (default 1)
 *   KEYS_READ(p)          how many keys the loops read (default n_k)
 *   NORMALIZE_OVER_QUERIES 1 to normalise each key's column instead of each query's row
 *   FORWARD_NAME          the function's name (default symbreak_attention_forward), for wrappers */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "symbreak/attention_abi.h"

#ifndef VISIBLE
#define VISIBLE(p, i, j) ((!(p)->causal || (j) <= (i)) && (!(p)->mask || (p)->mask[(size_t)(i) * (p)->n_k + (j)]))
#endif
#ifndef SCALE
#define SCALE(p) ((p)->scale)
#endif
#ifndef K_HEAD
#define K_HEAD(p, b, h) ((size_t)(b) * (p)->heads + (h))
#endif
#ifndef V_BATCH
#define V_BATCH(p, b) (b)
#endif
#ifndef SCORE_BIAS
#define SCORE_BIAS(j) 0.0f
#endif
#ifndef ACC_T
#define ACC_T float
#endif
#ifndef SUBTRACT_MAX
#define SUBTRACT_MAX 1
#endif
#ifndef KEYS_READ
#define KEYS_READ(p) ((p)->n_k)
#endif
#ifndef NORMALIZE_OVER_QUERIES
#define NORMALIZE_OVER_QUERIES 0
#endif
#ifndef FORWARD_NAME
#define FORWARD_NAME symbreak_attention_forward
#endif

int symbreak_attention_abi_version(void) { return SYMBREAK_ATTENTION_ABI_VERSION; }

int FORWARD_NAME(const symbreak_attention_problem* p) {
  const int nq = p->n_q, nk = p->n_k, dh = p->d_head, dv = p->d_v, keys = KEYS_READ(p);
  float* w = malloc(sizeof(float) * (size_t)nq * (keys > 0 ? keys : 1));
  if (!w) return 1;
  for (int b = 0; b < p->batch; ++b)
    for (int h = 0; h < p->heads; ++h) {
      const size_t bh = (size_t)b * p->heads + h;
      const float* q = p->q + bh * nq * dh;
      const float* k = p->k + K_HEAD(p, b, h) * nk * dh;
      const float* v = p->v + ((size_t)V_BATCH(p, b) * p->heads + h) * nk * dv;
      float* out = p->out + bh * nq * dv;
      for (int i = 0; i < nq; ++i)
        for (int j = 0; j < keys; ++j) {
          float s = 0;
          for (int c = 0; c < dh; ++c) s += q[(size_t)i * dh + c] * k[(size_t)j * dh + c];
          w[(size_t)i * keys + j] = VISIBLE(p, i, j) ? s * SCALE(p) + SCORE_BIAS(j) : -INFINITY;
        }
      if (NORMALIZE_OVER_QUERIES) {
        for (int j = 0; j < keys; ++j) {
          float m = -INFINITY, sum = 0;
          for (int i = 0; i < nq; ++i) m = fmaxf(m, w[(size_t)i * keys + j]);
          for (int i = 0; i < nq; ++i) sum += (w[(size_t)i * keys + j] = w[(size_t)i * keys + j] == -INFINITY ? 0 : expf(w[(size_t)i * keys + j] - m));
          for (int i = 0; i < nq; ++i) w[(size_t)i * keys + j] = sum > 0 ? w[(size_t)i * keys + j] / sum : 0;
        }
      } else {
        for (int i = 0; i < nq; ++i) {
          float m = -INFINITY, sum = 0;
          for (int j = 0; j < keys; ++j) m = fmaxf(m, w[(size_t)i * keys + j]);
          if (!SUBTRACT_MAX) m = 0;
          for (int j = 0; j < keys; ++j) {
            const float e = w[(size_t)i * keys + j] == -INFINITY ? 0.0f : expf(w[(size_t)i * keys + j] - m);
            w[(size_t)i * keys + j] = e;
            sum += e;
          }
          for (int j = 0; j < keys; ++j) w[(size_t)i * keys + j] /= sum;
        }
      }
      for (int i = 0; i < nq; ++i)
        for (int c = 0; c < dv; ++c) {
          ACC_T acc = 0;
          for (int j = 0; j < keys; ++j) {
            if (w[(size_t)i * keys + j] == 0.0f) continue; /* a masked key adds nothing, even a NaN value */
            acc += (ACC_T)(w[(size_t)i * keys + j] * v[(size_t)j * dv + c]);
          }
          out[(size_t)i * dv + c] = (float)acc;
        }
    }
  free(w);
  return 0;
}
