/* History: ggml-org/ggml pull request #1536, "CUDA/HIP: honor GGML_PREC_F32 in the flash-attention tile
 * kernel" (and ggml-org/llama.cpp issue #28124 for Vulkan): the tile kernel stores Q, K and the KQ
 * scores in fp16 whenever the GPU has fast fp16, whatever precision the graph asked for. For inputs
 * whose range is wider than fp16's, as bf16's is, a score past 65504 becomes inf. Here: a bf16 kernel
 * whose scores pass through an fp16 buffer. */
#define LOWP_DTYPE SYMBREAK_DTYPE_BF16
#define SCORE_OF(dot, scale) ((float)(_Float16)((dot) * (scale)))
#include "lowp_template.h"
