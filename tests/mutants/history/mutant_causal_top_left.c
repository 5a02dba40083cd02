/* History: Dao-AILab/flash-attention changed the causal alignment from top-left to bottom-right in
 * v2.1 ("2.1: change behavior of causal flag"; issue #951 asks for the old one back), and
 * pytorch/pytorch issue #108108 documents SDPA's top-left is_causal. Code written for one convention
 * and run under the other attends to the wrong keys whenever n_q != n_k (a KV cache). This kernel
 * declares bottom-right (FlashAttention >= 2.1) and aligns top-left. */
#define OFFSET(p, b, kv_len) 0
#include "v2_template.h"
