/* History: Dao-AILab/flash-attention pull request #2167, "[Cute,Bwd,Sm100] fix seqused in varlen
 * bwd", and issue #1990 ("this works for forward, there will be issues with the backward"): the
 * forward pass honoured the per-sequence key lengths, the backward pass did not. Here the backward
 * recomputes P over every key up to n_k, padding included. */
#define BWD_KEY_LIMIT(p, b, kv_len) ((p)->n_k)
#include "v2_template.h"
