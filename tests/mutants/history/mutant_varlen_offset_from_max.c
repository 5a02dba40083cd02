/* History: facebookresearch/xformers issue #655 and pull requests #66 and #660: the causal mask was
 * built once for the maximum sequence length and not from each sequence's own length. Here the
 * bottom-right offset comes from the padded n_k instead of the batch item's key length, so a
 * shorter sequence's queries are aligned to keys that do not exist. */
#define OFFSET(p, b, kv_len) ((p)->alignment == SYMBREAK_ALIGN_BOTTOM_RIGHT ? (p)->n_k - (p)->n_q : 0)
#include "v2_template.h"
