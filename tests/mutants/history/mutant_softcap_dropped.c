/* History: kekzl/imp pull request #688 ("attn_logit_softcap was silently dropped on the materialized
 * cuBLAS prefill path") and sgl-project/sgl-kernel-xpu pull request #491 (the XPU flash-attention
 * op "accepts a softcap argument but never applied it"): the kernel declares softcap and ignores it. */
#define CAP(s, c) (s)
#define CAP_SLOPE(s, c) 1.0f
#include "v2_template.h"
