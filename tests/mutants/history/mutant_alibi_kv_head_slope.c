/* History: vllm-project/vllm pull request #1938 ("gqa added to mpt attn"): with grouped-query heads
 * the ALiBi bias had to be regrouped as (num_kv_heads, queries_per_kv) to reach the right query
 * heads. This kernel takes the slope of the KV head a query head reads instead of its own. */
#define ALIBI_TERM(p, b, h, i, j, kv_len) \
  (-(p)->alibi_slopes[KV_HEAD(h, (p)->heads, (p)->heads_kv)] * fabsf((float)((i) + OFFSET(p, b, kv_len) - (j))))
#include "v2_template.h"
