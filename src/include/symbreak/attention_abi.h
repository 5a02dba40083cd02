/* The C ABI of an attention implementation that `symbreak validate --plugin LIB.so` loads.
 * Build your kernel as a shared library exporting the two functions below. */
#ifndef SYMBREAK_ATTENTION_ABI_H
#define SYMBREAK_ATTENTION_ABI_H

#ifdef __cplusplus
extern "C" {
#endif

#define SYMBREAK_ATTENTION_ABI_VERSION 1
typedef struct symbreak_attention_problem {
  int batch, heads, n_q, n_k, d_head, d_v;
  const float* q;            /* [batch][heads][n_q][d_head], row-major, contiguous */
  const float* k;            /* [batch][heads][n_k][d_head] */
  const float* v;            /* [batch][heads][n_k][d_v] */
  const unsigned char* mask; /* NULL, or [n_q][n_k]: nonzero = query i may attend key j (shared by batch and heads) */
  int causal;                /* 1: query i may attend key j only if j <= i; the validator sets n_q == n_k then */
  float scale;               /* multiply q.k by this before softmax */
  float* out;                /* [batch][heads][n_q][d_v], written by the implementation */
} symbreak_attention_problem;
int symbreak_attention_abi_version(void);                            /* returns 1 */
int symbreak_attention_forward(const symbreak_attention_problem* p); /* 0 = success */

#ifdef __cplusplus
}
#endif

#endif /* SYMBREAK_ATTENTION_ABI_H */
