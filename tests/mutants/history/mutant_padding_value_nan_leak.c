/* History: Dao-AILab/flash-attention issue #1228, "Avoid padding computation with cu_seqlens": with
 * the sequence lengths shorter than the padded tensor, "the padding elements may be uninitialized,
 * resulting in NaN/inf in the forward and backward passes". The weighted sum runs over every key,
 * padding included with weight 0, and 0 · NaN = NaN. */
#define ADD_MASKED_KEYS 1
#include "v2_template.h"
