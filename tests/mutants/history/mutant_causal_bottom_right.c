/* History: ml-explore/mlx issue #2835 (and the closed fix, pull request #2836): MLX's
 * scaled_dot_product_attention aligned mask="causal" bottom-right where PyTorch's is_causal is
 * top-left, so the same call gave "significant numerical differences" whenever n_q != n_k; and
 * NVIDIA/cutlass issue #2336, whose FMHA causal mask misbehaved for qlen != klen while its verifier
 * shared the wrong mask. This kernel declares top-left (PyTorch's convention) and aligns bottom-right. */
#define OFFSET(p, b, kv_len) ((kv_len) - (p)->n_q)
#define FEATURES                                                                                                 \
  (SYMBREAK_FEATURE_ALIGN_TOP_LEFT | SYMBREAK_FEATURE_GQA | SYMBREAK_FEATURE_WINDOW | SYMBREAK_FEATURE_PADDING | \
   SYMBREAK_FEATURE_MASK_PER_HEAD | SYMBREAK_FEATURE_EMPTY_ROWS | SYMBREAK_FEATURE_STRIDES)
#include "v2_template.h"
