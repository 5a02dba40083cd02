/* History: meta-pytorch/attention-gym pull request #86 ("fix alibi bias"): the ALiBi score_mod
 * computed alibi_bias[h] * (q_idx - kv_idx), rewarding distant keys instead of penalising them; the
 * fix is (kv_idx - q_idx). This kernel adds +slope·distance. */
#define ALIBI_TERM(p, b, h, i, j, kv_len) ((p)->alibi_slopes[h] * fabsf((float)((i) + OFFSET(p, b, kv_len) - (j))))
#include "v2_template.h"
