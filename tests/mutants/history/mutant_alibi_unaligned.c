/* History: Dao-AILab/flash-attention issue #907 ("Train-inference output mismatch when given
 * alibi_slopes"): cross-attention trained through the varlen path and decoded through the KV-cache
 * path gave different outputs with ALiBi; the distance must be taken at the aligned query position
 * i + n_k − n_q (FlashAttention's convention), not at i. This kernel ignores the offset. */
#define ALIBI_TERM(p, b, h, i, j, kv_len) (-(p)->alibi_slopes[h] * fabsf((float)((i) - (j))))
#include "v2_template.h"
