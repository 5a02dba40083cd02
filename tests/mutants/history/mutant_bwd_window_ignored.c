/* History: meta-pytorch/MSLK pull request #263 ("SDPA backward had is_causal=causal and window_size
 * is None which always evaluated to False, producing wrong non-causal non-windowed gradients") and
 * AMD-AGI/Primus-Turbo pull request #262 (the sink backward ignored window_size_right): the forward
 * pass applies the sliding window, the backward pass does not. */
#define BWD_WINDOW 0
#include "v2_template.h"
