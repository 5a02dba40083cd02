/* A correct f16 or bf16 attention plugin (version 2, forward and backward): v2_template.h's float32
 * loops behind a boundary that reads 16-bit inputs and writes 16-bit outputs (rounding to nearest
 * even), with P and dS stored in the dtype before their products, as FlashAttention's kernels store
 * them. A file defines LOWP_DTYPE (SYMBREAK_DTYPE_F16 or SYMBREAK_DTYPE_BF16), optionally the
 * template's hooks (SCORE_OF, ...), then includes this one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbreak/attention_abi.h"

static float lowp_load(uint16_t bits) {
#if LOWP_DTYPE == SYMBREAK_DTYPE_F16
  _Float16 h;
  memcpy(&h, &bits, 2);
  return (float)h;
#else
  uint32_t u = (uint32_t)bits << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}

static uint16_t lowp_bits(float x) {
#if LOWP_DTYPE == SYMBREAK_DTYPE_F16
  _Float16 h = (_Float16)x; /* round to nearest even */
  uint16_t bits;
  memcpy(&bits, &h, 2);
  return bits;
#else
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN stays NaN */
  u += 0x7fffu + ((u >> 16) & 1u);                                            /* round to nearest even */
  return (uint16_t)(u >> 16);
#endif
}

static float lowp_round(float x) { return lowp_load(lowp_bits(x)); }

#ifndef P_STORE
#define P_STORE(x) lowp_round(x)
#endif
#ifndef DS_STORE
#define DS_STORE(x) lowp_round(x)
#endif
#ifndef FEATURES
#define FEATURES                                                                                                   \
  (SYMBREAK_FEATURE_ALIGN_BOTTOM_RIGHT | SYMBREAK_FEATURE_GQA | SYMBREAK_FEATURE_WINDOW | SYMBREAK_FEATURE_PADDING | \
   SYMBREAK_FEATURE_MASK_PER_HEAD | SYMBREAK_FEATURE_EMPTY_ROWS | SYMBREAK_FEATURE_STRIDES | SYMBREAK_FEATURE_SOFTCAP | \
   SYMBREAK_FEATURE_BIAS | SYMBREAK_FEATURE_ALIBI |                                                                   \
   (LOWP_DTYPE == SYMBREAK_DTYPE_F16 ? SYMBREAK_FEATURE_F16 : SYMBREAK_FEATURE_BF16))
#endif

#define symbreak_attention_forward_v2 float32_forward_v2
#define symbreak_attention_backward_v2 float32_backward_v2
#include "v2_template.h"
#undef symbreak_attention_forward_v2
#undef symbreak_attention_backward_v2

/* A [batch][heads][rows][cols] tensor of 16-bit elements at `strides` as contiguous floats, and back. */
static float* lowp_read(const void* src, const long long* s, int batch, int heads, int rows, int cols) {
  float* out = malloc(sizeof(float) * (size_t)batch * heads * rows * cols + 1);
  if (!out) return NULL;
  size_t at = 0;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) out[at++] = lowp_load(((const uint16_t*)src)[b * s[0] + h * s[1] + r * s[2] + c]);
  return out;
}
static void lowp_write(void* dst, const long long* s, const float* src, int batch, int heads, int rows, int cols) {
  size_t at = 0;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) ((uint16_t*)dst)[b * s[0] + h * s[1] + r * s[2] + c] = lowp_bits(src[at++]);
}
static void lowp_contiguous(long long* s, int heads, int rows, int cols) {
  s[2] = cols;
  s[1] = (long long)rows * cols;
  s[0] = s[1] * heads;
}

/* The problem with float32 copies of q, k, v in contiguous [b][h][n][d] and a float32 `out`. */
static int lowp_float_problem(const symbreak_attention_problem_v2* p, symbreak_attention_problem_v2* f) {
  if (p->dtype != LOWP_DTYPE) return 0;
  *f = *p;
  f->dtype = SYMBREAK_DTYPE_F32;
  f->q = lowp_read(p->q, p->q_strides, p->batch, p->heads, p->n_q, p->d_head);
  f->k = lowp_read(p->k, p->k_strides, p->batch, p->heads_kv, p->n_k, p->d_head);
  f->v = lowp_read(p->v, p->v_strides, p->batch, p->heads_kv, p->n_k, p->d_v);
  f->out = malloc(sizeof(float) * (size_t)p->batch * p->heads * p->n_q * p->d_v + 1);
  lowp_contiguous(f->q_strides, p->heads, p->n_q, p->d_head);
  lowp_contiguous(f->k_strides, p->heads_kv, p->n_k, p->d_head);
  lowp_contiguous(f->v_strides, p->heads_kv, p->n_k, p->d_v);
  lowp_contiguous(f->out_strides, p->heads, p->n_q, p->d_v);
  return f->q && f->k && f->v && f->out;
}
static void lowp_free(symbreak_attention_problem_v2* f) {
  free((void*)f->q);
  free((void*)f->k);
  free((void*)f->v);
  free(f->out);
}

int symbreak_attention_forward_v2(const symbreak_attention_problem_v2* p) {
  symbreak_attention_problem_v2 f;
  if (!lowp_float_problem(p, &f)) return 3;
  const int rc = float32_forward_v2(&f);
  if (rc == 0) lowp_write(p->out, p->out_strides, f.out, p->batch, p->heads, p->n_q, p->d_v);
  lowp_free(&f);
  return rc;
}

int symbreak_attention_backward_v2(const symbreak_attention_backward_problem_v2* bp) {
  const symbreak_attention_problem_v2* p = bp->forward;
  symbreak_attention_problem_v2 f;
  if (!lowp_float_problem(p, &f)) return 3;
  float* d_out = lowp_read(bp->d_out, p->out_strides, p->batch, p->heads, p->n_q, p->d_v);
  float* dq = malloc(sizeof(float) * (size_t)p->batch * p->heads * p->n_q * p->d_head + 1);
  float* dk = malloc(sizeof(float) * (size_t)p->batch * p->heads_kv * p->n_k * p->d_head + 1);
  float* dv = malloc(sizeof(float) * (size_t)p->batch * p->heads_kv * p->n_k * p->d_v + 1);
  int rc = 1;
  if (d_out && dq && dk && dv) {
    symbreak_attention_backward_problem_v2 fb = {sizeof fb, &f, d_out, dq, dk, dv};
    rc = float32_backward_v2(&fb);
    if (rc == 0) {
      lowp_write(bp->d_q, p->q_strides, dq, p->batch, p->heads, p->n_q, p->d_head);
      lowp_write(bp->d_k, p->k_strides, dk, p->batch, p->heads_kv, p->n_k, p->d_head);
      lowp_write(bp->d_v, p->v_strides, dv, p->batch, p->heads_kv, p->n_k, p->d_v);
    }
  }
  free(d_out);
  free(dq);
  free(dk);
  free(dv);
  lowp_free(&f);
  return rc;
}
