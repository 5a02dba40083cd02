/* History: pytorch/pytorch issue #101967, "scaled_dot_product_attention produces NaN when input has
 * NaN in masked-out positions". The output is a GEMM of the softmax weights with every value row,
 * masked ones included: their weight is exactly 0, but 0 · NaN = NaN, so a NaN in a value row that
 * the mask hides reaches every query. Correct on finite inputs; MASKED-INDEPENDENCE poisons masked
 * rows with NaN and must catch it on every seed. */
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
        w[j] = visible ? s * p->scale : -INFINITY; /* masked_fill(-inf): the score side is right */
        m = fmaxf(m, w[j]);
      }
      for (int j = 0; j < nk; ++j) sum += (w[j] = w[j] == -INFINITY ? 0.0f : expf(w[j] - m));
      for (int c = 0; c < dv; ++c) {
        float acc = 0;
        for (int j = 0; j < nk; ++j) acc += w[j] / sum * v[(size_t)j * dv + c]; /* the bug: every key, 0 · NaN */
        out[(size_t)i * dv + c] = acc;
      }
    }
  }
  free(w);
  return 0;
}
