/* A correct bfloat16 kernel, forward and backward: bf16 inputs and outputs, float32 accumulation, P and
 * dS stored in bf16 before their products (FlashAttention's precision), every version-2 feature. */
#define LOWP_DTYPE SYMBREAK_DTYPE_BF16
#include "lowp_template.h"
