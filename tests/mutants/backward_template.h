/* A straightforward C backward pass for the ABI, written so that each backward mutant changes one
 * thing. Include kernel_template.h first (the forward pass). Hooks:
 *   BWD_VISIBLE(p, i, j)  may query i attend key j, as the backward pass recomputes P (default: as forward)
 *   DK_IGNORES_CAUSAL     1 to recompute P for dK without the causal mask (default 0)
 *   ROWSUM_TERM           1 to subtract D_i = Σ_j P_ij dP_ij from dP (default 1)
 *   DELTA_FROM_O_O        1 to take D_i = Σ_c O_ic O_ic instead (default 0)
 *   DQ_SCALE(p)           the factor of dQ (default: the scale)
 *   TRANSPOSE_DS          1 to read dS transposed for dK (default 0)
 *   DV_UNNORMALIZED       1 to accumulate dV with exp(s - m) instead of P (default 0)
 *   BACKWARD_NAME         the function's name (default symbreak_attention_backward), for wrappers */
#ifndef BWD_VISIBLE
#define BWD_VISIBLE(p, i, j) VISIBLE(p, i, j)
#endif
#ifndef DK_IGNORES_CAUSAL
#define DK_IGNORES_CAUSAL 0
#endif
#ifndef ROWSUM_TERM
#define ROWSUM_TERM 1
#endif
#ifndef DELTA_FROM_O_O
#define DELTA_FROM_O_O 0
#endif
#ifndef DQ_SCALE
#define DQ_SCALE(p) ((p)->scale)
#endif
#ifndef TRANSPOSE_DS
#define TRANSPOSE_DS 0
#endif
#ifndef DV_UNNORMALIZED
#define DV_UNNORMALIZED 0
#endif
#ifndef BACKWARD_NAME
#define BACKWARD_NAME symbreak_attention_backward
#endif

int BACKWARD_NAME(const symbreak_attention_backward_problem* b) {
  const symbreak_attention_problem* p = &b->forward;
  const int nq = p->n_q, nk = p->n_k, dh = p->d_head, dv = p->d_v;
  float* P = malloc(sizeof(float) * (size_t)nq * nk);
  float* E = malloc(sizeof(float) * (size_t)nq * nk);  /* exp(s - m), unnormalised */
  float* dS = malloc(sizeof(float) * (size_t)nq * nk);
  float* dSk = malloc(sizeof(float) * (size_t)nq * nk); /* the dS that dK reads */
  if (!P || !E || !dS || !dSk) return 1;
  for (size_t bh = 0; bh < (size_t)p->batch * p->heads; ++bh) {
    const float* q = p->q + bh * nq * dh;
    const float* k = p->k + bh * nk * dh;
    const float* v = p->v + bh * nk * dv;
    const float* o = p->out + bh * nq * dv;
    const float* dO = b->d_out + bh * nq * dv;
    float* dQ = b->d_q + bh * nq * dh;
    float* dK = b->d_k + bh * nk * dh;
    float* dV = b->d_v + bh * nk * dv;
    for (int i = 0; i < nq; ++i) {
      float m = -INFINITY, sum = 0;
      for (int j = 0; j < nk; ++j) {
        float s = 0;
        for (int c = 0; c < dh; ++c) s += q[(size_t)i * dh + c] * k[(size_t)j * dh + c];
        P[(size_t)i * nk + j] = BWD_VISIBLE(p, i, j) ? s * p->scale : -INFINITY;
        m = fmaxf(m, P[(size_t)i * nk + j]);
      }
      for (int j = 0; j < nk; ++j) {
        const float e = P[(size_t)i * nk + j] == -INFINITY ? 0.0f : expf(P[(size_t)i * nk + j] - m);
        E[(size_t)i * nk + j] = e;
        sum += e;
      }
      for (int j = 0; j < nk; ++j) P[(size_t)i * nk + j] = E[(size_t)i * nk + j] / sum;
    }
    for (size_t x = 0; x < (size_t)nq * dh; ++x) dQ[x] = 0;
    for (size_t x = 0; x < (size_t)nk * dh; ++x) dK[x] = 0;
    for (size_t x = 0; x < (size_t)nk * dv; ++x) dV[x] = 0;
    for (int i = 0; i < nq; ++i) {
      float D = 0;
      for (int j = 0; j < nk; ++j) {
        float dp = 0;
        for (int c = 0; c < dv; ++c) {
          dp += dO[(size_t)i * dv + c] * v[(size_t)j * dv + c];
          dV[(size_t)j * dv + c] += (DV_UNNORMALIZED ? E[(size_t)i * nk + j] : P[(size_t)i * nk + j]) * dO[(size_t)i * dv + c];
        }
        dS[(size_t)i * nk + j] = dp;
        D += P[(size_t)i * nk + j] * dp;
      }
      if (DELTA_FROM_O_O) {
        D = 0;
        for (int c = 0; c < dv; ++c) D += o[(size_t)i * dv + c] * o[(size_t)i * dv + c];
      }
      for (int j = 0; j < nk; ++j) dS[(size_t)i * nk + j] = P[(size_t)i * nk + j] * (dS[(size_t)i * nk + j] - (ROWSUM_TERM ? D : 0.0f));
    }
    for (size_t x = 0; x < (size_t)nq * nk; ++x) dSk[x] = dS[x];
    if (DK_IGNORES_CAUSAL) {
      /* dK's pass recomputes P with the explicit mask only: later keys leak into earlier queries' rows */
      for (int i = 0; i < nq; ++i) {
        float m = -INFINITY, sum = 0, D = 0;
        for (int j = 0; j < nk; ++j) {
          float s = 0;
          for (int c = 0; c < dh; ++c) s += q[(size_t)i * dh + c] * k[(size_t)j * dh + c];
          E[(size_t)i * nk + j] = (!p->mask || p->mask[(size_t)i * nk + j]) ? s * p->scale : -INFINITY;
          m = fmaxf(m, E[(size_t)i * nk + j]);
        }
        for (int j = 0; j < nk; ++j) sum += (E[(size_t)i * nk + j] = E[(size_t)i * nk + j] == -INFINITY ? 0.0f : expf(E[(size_t)i * nk + j] - m));
        for (int j = 0; j < nk; ++j) {
          float dp = 0;
          for (int c = 0; c < dv; ++c) dp += dO[(size_t)i * dv + c] * v[(size_t)j * dv + c];
          E[(size_t)i * nk + j] /= sum;
          dSk[(size_t)i * nk + j] = dp;
          D += E[(size_t)i * nk + j] * dp;
        }
        for (int j = 0; j < nk; ++j) dSk[(size_t)i * nk + j] = E[(size_t)i * nk + j] * (dSk[(size_t)i * nk + j] - D);
      }
    }
    for (int i = 0; i < nq; ++i)
      for (int j = 0; j < nk; ++j) {
        const float g = dS[(size_t)i * nk + j];
        for (int c = 0; c < dh; ++c) dQ[(size_t)i * dh + c] += DQ_SCALE(p) * g * k[(size_t)j * dh + c];
        /* dK_j gets query i's row of dS (or, transposed by mistake, dS[j][i] when it exists) */
        const float gk = TRANSPOSE_DS ? (j < nq && i < nk ? dSk[(size_t)j * nk + i] : 0.0f) : dSk[(size_t)i * nk + j];
        for (int c = 0; c < dh; ++c) dK[(size_t)j * dh + c] += p->scale * gk * q[(size_t)i * dh + c];
      }
  }
  free(P);
  free(E);
  free(dS);
  free(dSk);
  return 0;
}
