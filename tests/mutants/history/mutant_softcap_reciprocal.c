/* History: microsoft/onnxruntime pull request #21683 ("softcap gqa"): the CUDA path computed
 * fast_tanh(s · softcap), following FlashAttention, which stores the reciprocal 1/c in its softcap
 * parameter, while the CPU path and the operator's attribute mean c·tanh(s / c); the reviewer caught
 * the two conventions meeting. This kernel is handed c and uses it as FlashAttention's 1/c. */
#define CAP(s, c) ((c) * tanhf((s) * (c)))
#define CAP_SLOPE(s, c) ((c) * (c) * (1.0f - tanhf((s) * (c)) * tanhf((s) * (c))))
#include "v2_template.h"
