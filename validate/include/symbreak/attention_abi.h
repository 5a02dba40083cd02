/* The C ABI of an attention implementation that `symbreak validate --plugin LIB.so` loads.
 * Build your kernel as a shared library exporting the two required functions below; the
 * capabilities and the backward pass are optional. A plugin written for the first release (the two
 * required functions only) keeps working: it is assumed to support every case. */
#ifndef SYMBREAK_ATTENTION_ABI_H
#define SYMBREAK_ATTENTION_ABI_H

#ifdef __cplusplus
extern "C" {
#endif

#define SYMBREAK_ATTENTION_ABI_VERSION 1

/* ---- Required: the forward pass  O = softmax(scale · Q Kᵀ + mask) · V  per batch and head ---- */
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

/* ---- Optional: what the kernel supports ----
 * The validator fills every field with "supported" (limits 0 = none) and calls this once; the
 * kernel restricts what it cannot do. Cases outside the declared region are never generated; a
 * nonzero return from the forward or backward pass on a case inside it is a failure. */
#define SYMBREAK_MASK_NONE 1u     /* neither a causal mask nor an explicit one */
#define SYMBREAK_MASK_CAUSAL 2u   /* the causal flag */
#define SYMBREAK_MASK_EXPLICIT 4u /* an explicit [n_q][n_k] mask (with the causal flag too only if both bits are set) */
typedef struct symbreak_attention_caps {
  unsigned mask_modes;                    /* SYMBREAK_MASK_* bits */
  int cross;                              /* 1: n_q != n_k is supported (always n_q == n_k under the causal flag) */
  int any_scale;                          /* 1: any scale; 0: only 1/sqrt(d_head) */
  int dv_differs;                         /* 1: d_v != d_head is supported */
  int max_batch, max_heads, max_n, max_d; /* 0: no limit; max_n bounds n_q and n_k, max_d bounds d_head and d_v */
} symbreak_attention_caps;
int symbreak_attention_capabilities(symbreak_attention_caps* caps); /* 0 = success */

/* ---- Optional: the backward pass ----
 * Given dL/dO, write dL/dQ, dL/dK and dL/dV. forward.out holds the forward output O (the validator's
 * float32 reference; read-only here) for kernels that use it, e.g. for rowsum(dO ∘ O). */
typedef struct symbreak_attention_backward_problem {
  symbreak_attention_problem forward;
  const float* d_out; /* [batch][heads][n_q][d_v] */
  float* d_q;         /* [batch][heads][n_q][d_head], written */
  float* d_k;         /* [batch][heads][n_k][d_head], written */
  float* d_v;         /* [batch][heads][n_k][d_v], written */
} symbreak_attention_backward_problem;
int symbreak_attention_backward(const symbreak_attention_backward_problem* p); /* 0 = success */

#ifdef __cplusplus
}
#endif

#endif /* SYMBREAK_ATTENTION_ABI_H */
