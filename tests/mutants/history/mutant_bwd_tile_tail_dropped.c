/* History: flagos-ai/FlagGems pull request #898 ("add scaled_dot_product_attention_backward", "still
 * buggy when seq_len is not power of 2"): dV was right when the sequence length was a multiple of the
 * 64-key tile and wrong by the tail's size otherwise. Here the backward pass recomputes P over whole
 * tiles of 16 keys only: the keys of a partial last tile are dropped (the forward pass is correct). */
#define BWD_KEY_LIMIT(p, b, kv_len) ((kv_len) >= 16 ? (kv_len) / 16 * 16 : (kv_len))
#include "v2_template.h"
