/* History: flagos-ai/FlagAttention pull request #12, "Change the causal masking when seqlen_q >
 * seqlen_kv": before it, under bottom-right alignment the query rows above the first key (which see
 * no key, and whose output is zero in FlashAttention >= 2.1) were not zero. This kernel clamps the
 * aligned position at 0, so those rows attend to key 0. */
#define CAUSAL_AT(at) ((at) < 0 ? 0 : (at))
#include "v2_template.h"
