/* History: philipturner/metal-flash-attention issue #8, "Accuracy issues due to attention_matrix
 * accumulated at half-precision & softmax_scale (alpha) applied after qk": the kernel keeps Q·Kᵀ in
 * half precision and multiplies by the softmax scale afterwards, so a dot product past 65504 is inf
 * although the scaled score is in range, and the row turns NaN (SSD-1B's attention). The same overflow
 * is pytorch/pytorch issue #119131 (SDPA's math backend in f16). Here: q·k rounded to f16, then scaled. */
#define LOWP_DTYPE SYMBREAK_DTYPE_F16
#define SCORE_OF(dot, scale) ((float)(_Float16)(dot) * (scale))
#include "lowp_template.h"
