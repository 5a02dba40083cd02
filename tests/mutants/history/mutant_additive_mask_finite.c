/* History: huggingface/transformers issue #14859 (get_extended_attention_mask adds -1e4 to masked
 * scores, "occasionally not small enough to nullify the scores in masked positions") and
 * TransformerLensOrg/TransformerLens issue #318 (masked scores set to -1e5 while real scores fell
 * below it). The mask is an additive finite constant instead of -inf or a skipped key: a masked
 * key whose score exceeds the visible ones by more than 10,000 still takes the attention. */
#include <math.h>
#include <stdlib.h>

#include "symbreak/attention_abi.h"

int symbreak_attention_abi_version(void) { return SYMBREAK_ATTENTION_ABI_VERSION; }

int symbreak_attention_forward(const symbreak_attention_problem* p) {
  const int nq = p->n_q, nk = p->n_k, dh = p->d_head, dv = p->d_v;
  float* w = malloc(sizeof(float) * (size_t)nk);
  if (!w) return 1;
  for (size_t bh = 0; bh < (size_t)p->batch * p->heads; ++bh) {
    const float *q = p->q + bh * nq * dh, *k = p->k + bh * nk * dh, *v = p->v + bh * nk * dv;
    float* out = p->out + bh * nq * dv;
    for (int i = 0; i < nq; ++i) {
      float m = -INFINITY, sum = 0;
      for (int j = 0; j < nk; ++j) {
        const int visible = (!p->causal || j <= i) && (!p->mask || p->mask[(size_t)i * nk + j]);
        float s = 0;
        for (int c = 0; c < dh; ++c) s += q[(size_t)i * dh + c] * k[(size_t)j * dh + c];
        w[j] = s * p->scale + (visible ? 0.0f : -10000.0f); /* the bug: a finite additive mask */
        m = fmaxf(m, w[j]);
      }
      for (int j = 0; j < nk; ++j) sum += (w[j] = expf(w[j] - m));
      for (int c = 0; c < dv; ++c) {
        float acc = 0;
        for (int j = 0; j < nk; ++j) acc += w[j] / sum * v[(size_t)j * dv + c];
        out[(size_t)i * dv + c] = acc;
      }
    }
  }
  free(w);
  return 0;
}
