/* History: onnx/onnx pull request #7274, "Update attention gqa to use repeat interleave within
 * repeat kv": the Attention operator's GQA expansion used Tile, giving the head order [kv0, kv1,
 * kv0, kv1] where PyTorch (and every llama-style model) repeat-interleaves to [kv0, kv0, kv1, kv1].
 * Query head h reads KV head h mod heads_kv instead of h / (heads / heads_kv). */
#define KV_HEAD(h, heads, heads_kv) ((h) % (heads_kv))
#include "v2_template.h"
