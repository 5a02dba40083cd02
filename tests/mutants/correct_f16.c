/* A correct binary16 kernel, forward and backward: f16 inputs and outputs, float32 accumulation, P and
 * dS stored in f16 before their products (FlashAttention's precision), every version-2 feature. */
#define LOWP_DTYPE SYMBREAK_DTYPE_F16
#include "lowp_template.h"
