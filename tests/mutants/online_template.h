/* A FlashAttention-style C kernel (online softmax over key blocks of BLOCK keys). Hooks:
 *   BLOCK            keys per block (default 8)
 *   DROP_REMAINDER   1 to skip the last, partial key block
 *   RESCALE          1 to rescale the accumulator when the running max grows (default 1)
 *   MAX_START        the initial running max (default -INFINITY)
 *   FORWARD_NAME     the function's name (default symbreak_attention_forward), for wrappers */
#include <math.h>
#include <stdlib.h>

#include "symbreak/attention_abi.h"

#ifndef BLOCK
#define BLOCK 8
#endif
#ifndef DROP_REMAINDER
#define DROP_REMAINDER 0
#endif
#ifndef RESCALE
#define RESCALE 1
#endif
#ifndef MAX_START
#define MAX_START (-INFINITY)
#endif
#ifndef FORWARD_NAME
#define FORWARD_NAME symbreak_attention_forward
#endif

int symbreak_attention_abi_version(void) { return SYMBREAK_ATTENTION_ABI_VERSION; }

int FORWARD_NAME(const symbreak_attention_problem* p) {
  const int nq = p->n_q, nk = p->n_k, dh = p->d_head, dv = p->d_v;
  float* acc = malloc(sizeof(float) * (size_t)dv);
  if (!acc) return 1;
  for (size_t bh = 0; bh < (size_t)p->batch * p->heads; ++bh) {
    const float* q = p->q + bh * nq * dh;
    const float* k = p->k + bh * nk * dh;
    const float* v = p->v + bh * nk * dv;
    float* out = p->out + bh * nq * dv;
    for (int i = 0; i < nq; ++i) {
      float m = MAX_START, l = 0;
      for (int c = 0; c < dv; ++c) acc[c] = 0;
      const int end = DROP_REMAINDER ? nk / BLOCK * BLOCK : nk;
      for (int j0 = 0; j0 < end; j0 += BLOCK) {
        const int j1 = j0 + BLOCK < nk ? j0 + BLOCK : nk;
        float block_max = -INFINITY;
        float s[BLOCK];
        for (int j = j0; j < j1; ++j) {
          const int visible = (!p->causal || j <= i) && (!p->mask || p->mask[(size_t)i * nk + j]);
          float dot = 0;
          for (int c = 0; c < dh; ++c) dot += q[(size_t)i * dh + c] * k[(size_t)j * dh + c];
          s[j - j0] = visible ? dot * p->scale : -INFINITY;
          block_max = fmaxf(block_max, s[j - j0]);
        }
        if (block_max == -INFINITY) continue;
        const float m_new = fmaxf(m, block_max);
        const float r = m == -INFINITY ? 0.0f : expf(m - m_new);
        if (RESCALE) {
          l *= r;
          for (int c = 0; c < dv; ++c) acc[c] *= r;
        }
        for (int j = j0; j < j1; ++j) {
          if (s[j - j0] == -INFINITY) continue;
          const float e = expf(s[j - j0] - m_new);
          l += e;
          for (int c = 0; c < dv; ++c) acc[c] += e * v[(size_t)j * dv + c];
        }
        m = m_new;
      }
      for (int c = 0; c < dv; ++c) out[(size_t)i * dv + c] = acc[c] / l;
    }
  }
  free(acc);
  return 0;
}
