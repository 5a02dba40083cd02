/* The C ABI of an attention implementation that `symbreak validate --plugin LIB.so` loads.
 * Build your kernel as a shared library exporting the two required functions below; the
 * capabilities and the backward pass are optional. A plugin written for the first release (the two
 * required functions only) keeps working: it is assumed to support every case.
 *
 * Version 2 (below the version-1 section) adds the op as production kernels run it: grouped-query
 * heads, causal alignment when n_q != n_k, sliding windows, per-batch key lengths, per-head masks,
 * rows with no visible key, strided layouts, softcap, additive bias and ALiBi, and f16/bf16 inputs
 * and outputs. A plugin opts in by exporting
 * symbreak_attention_forward_v2 (and optionally _backward_v2, _capabilities_v2); one that exports only
 * the version-1 functions is served version-1 cases, whatever number its abi_version returns. */
#ifndef SYMBREAK_ATTENTION_ABI_H
#define SYMBREAK_ATTENTION_ABI_H

#ifdef __cplusplus
extern "C" {
#endif

#define SYMBREAK_ATTENTION_ABI_VERSION 2

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
int symbreak_attention_abi_version(void);                            /* returns 1 or 2 */
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


/* ================================ Version 2 ================================
 *   O[b,h] = softmax(softcap(scale · Q[b,h] K[b,g(h)]ᵀ) + bias[h]  restricted to the keys visible from each query) · V[b,g(h)]
 * with g(h) = h / (heads / heads_kv) (repeat-interleave: query heads 0..G-1 share KV head 0, ...).
 * Key j is visible from query i of batch b, head h iff all of:
 *   j < kv_len(b)                          (kv_lens NULL: kv_len = n_k)
 *   causal:  j <= i + offset(b)
 *   window:  i + offset(b) - window_left <= j <= i + offset(b) + window_right   (-1: that side unbounded)
 *   mask:    mask[i][j] (or mask[b][h][i][j] when mask_per_head) is nonzero
 *   bias:    bias[h][i][j] is not -inf
 * where the alignment sets offset(b): top-left 0 (PyTorch is_causal), bottom-right kv_len(b) - n_q
 * (FlashAttention >= 2.1, PyTorch causal_lower_right, decoding with a KV cache). Both coincide when
 * n_q = kv_len; version-1 kernels and `causal` alone see only that case.
 * A query row with no visible key is written as zeros (the PyTorch/ONNX contract), with zero
 * gradients; the validator generates such rows only for kernels declaring SYMBREAK_FEATURE_EMPTY_ROWS.
 * Element (b, h, i, c) of a tensor is at  b*stride[0] + h*stride[1] + i*stride[2] + c  (the last
 * dimension is contiguous). */
#define SYMBREAK_DTYPE_F32 0  /* float32 */
#define SYMBREAK_DTYPE_F16 1  /* IEEE binary16 */
#define SYMBREAK_DTYPE_BF16 2 /* bfloat16 (the top half of a float32) */
#define SYMBREAK_ALIGN_TOP_LEFT 0
#define SYMBREAK_ALIGN_BOTTOM_RIGHT 1
typedef struct symbreak_attention_problem_v2 {
  int struct_size; /* sizeof(symbreak_attention_problem_v2) of the validator: later versions only append */
  int batch, heads, heads_kv, n_q, n_k, d_head, d_v;
  const float* q;              /* strides q_strides, shape [batch][heads][n_q][d_head] */
  const float* k;              /* [batch][heads_kv][n_k][d_head] */
  const float* v;              /* [batch][heads_kv][n_k][d_v] */
  float* out;                  /* [batch][heads][n_q][d_v], written */
  long long q_strides[3], k_strides[3], v_strides[3], out_strides[3]; /* elements, for batch, head, row */
  const unsigned char* mask;   /* NULL, [n_q][n_k], or [batch][heads][n_q][n_k] when mask_per_head (contiguous) */
  int mask_per_head;
  int causal;                  /* 1: the causal condition applies */
  int alignment;               /* SYMBREAK_ALIGN_*: the offset of causal and window */
  int window_left, window_right; /* -1: unbounded; both -1: no window */
  const int* kv_lens;          /* NULL, or [batch] in 1..n_k: keys j >= kv_lens[b] are padding */
  float scale;
  float softcap;               /* > 0: each score s = scale·q·k becomes softcap·tanh(s / softcap) before
                                  the mask (Gemma 2); 0: none. Only for kernels declaring SYMBREAK_FEATURE_SOFTCAP */
  const float* bias;           /* NULL, or [heads][n_q][n_k] (contiguous, shared by the batch): added to each
                                  score after the softcap, before the softmax. -inf hides that key (a row whose
                                  visible keys are all -inf is a row with no visible key); -FLT_MAX does not.
                                  Only for kernels declaring SYMBREAK_FEATURE_BIAS */
  const float* alibi_slopes;   /* NULL, or [heads]: ALiBi, score(i, j) += -slope[h] * |i + offset(b) - j| after
                                  the softcap (FlashAttention's alibi_slopes). Never together with bias.
                                  Only for kernels declaring SYMBREAK_FEATURE_ALIBI */
  int dtype;                   /* SYMBREAK_DTYPE_*: the element type of q, k, v and out (and of the backward's
                                  d_out, d_q, d_k, d_v, and of the forward output it carries). For F16 and BF16
                                  those pointers point at 16-bit values: read them as (const uint16_t*) bit
                                  patterns, strides still count elements. mask, kv_lens, bias and alibi_slopes
                                  keep their types. Only F32 unless the kernel declares SYMBREAK_FEATURE_F16/_BF16 */
} symbreak_attention_problem_v2;
int symbreak_attention_forward_v2(const symbreak_attention_problem_v2* p); /* 0 = success */

/* The backward pass: d_q has q's shape and strides, d_k k's, d_v v's, d_out out's. forward->out holds
 * the forward output O (read-only here). With heads_kv < heads, d_k and d_v sum over the group. */
typedef struct symbreak_attention_backward_problem_v2 {
  int struct_size;
  const symbreak_attention_problem_v2* forward;
  const float* d_out;
  float *d_q, *d_k, *d_v;
} symbreak_attention_backward_problem_v2;
int symbreak_attention_backward_v2(const symbreak_attention_backward_problem_v2* p); /* 0 = success */

/* Capabilities: the validator fills the version-1 fields with "supported" and `features` with 0;
 * the kernel restricts the first and sets the feature bits it supports (extensions are opt-in). */
#define SYMBREAK_FEATURE_ALIGN_TOP_LEFT 1u      /* causal or window where n_q != kv_len, top-left aligned */
#define SYMBREAK_FEATURE_ALIGN_BOTTOM_RIGHT 2u  /* causal or window where n_q != kv_len, bottom-right aligned */
#define SYMBREAK_FEATURE_GQA 4u                 /* heads_kv < heads */
#define SYMBREAK_FEATURE_WINDOW 8u              /* window_left / window_right */
#define SYMBREAK_FEATURE_PADDING 16u            /* kv_lens */
#define SYMBREAK_FEATURE_MASK_PER_HEAD 32u      /* mask_per_head */
#define SYMBREAK_FEATURE_EMPTY_ROWS 64u         /* rows with no visible key, written as zeros */
#define SYMBREAK_FEATURE_STRIDES 128u           /* any strides (otherwise contiguous [b][h][n][d]) */
#define SYMBREAK_FEATURE_DETERMINISTIC 256u     /* the same input gives the same bits, forward and backward */
#define SYMBREAK_FEATURE_MASKED_FINITE 512u     /* masked K/V may be assumed finite (no NaN poisoning) */
#define SYMBREAK_FEATURE_SOFTCAP 1024u          /* softcap > 0 */
#define SYMBREAK_FEATURE_EMPTY_ROWS_NAN 2048u   /* rows with no visible key, written as NaN (softmax's 0/0; forward
                                                   only: the backward gets no such rows) */
#define SYMBREAK_FEATURE_BIAS 4096u             /* bias: an additive float bias per head (-inf, -FLT_MAX included) */
#define SYMBREAK_FEATURE_ALIBI 8192u            /* alibi_slopes */
#define SYMBREAK_FEATURE_F16 16384u             /* inputs and outputs in binary16 (dtype SYMBREAK_DTYPE_F16): the
                                                   kernel is then served f16 cases only (declare one dtype) */
#define SYMBREAK_FEATURE_BF16 32768u            /* inputs and outputs in bfloat16 (dtype SYMBREAK_DTYPE_BF16) */
typedef struct symbreak_attention_caps_v2 {
  int struct_size;
  symbreak_attention_caps v1;
  unsigned features; /* SYMBREAK_FEATURE_* bits */
} symbreak_attention_caps_v2;
int symbreak_attention_capabilities_v2(symbreak_attention_caps_v2* caps); /* 0 = success */

#ifdef __cplusplus
}
#endif

#endif /* SYMBREAK_ATTENTION_ABI_H */
