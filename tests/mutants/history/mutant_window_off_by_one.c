/* History: NVIDIA-NeMo/Megatron-Bridge pull request #2656, "Fix off-by-one in sliding window size
 * for Gemma2, Gemma3, Mistral, and GPT-OSS" (and huggingface/transformers issue #29176 on the two
 * readings of the window size): FlashAttention's window (left, right) is inclusive, so (W, 0) sees
 * W + 1 keys, while a model config's sliding_window W counts the current token. This kernel reads
 * window_left as such a size: it admits keys at >= at - left + 1, one key short. */
#define WINDOW_LO(at, left) ((at) - (left) + 1)
#include "v2_template.h"
