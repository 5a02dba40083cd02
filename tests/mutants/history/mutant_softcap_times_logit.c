/* History: Dao-AILab/flash-attention pull request #2402 (FA4's softcap score_mod computed
 * scores · tanh(scores)) and unslothai/unsloth-zoo pull request #593 (logits · tanh(logits / c)):
 * the logit multiplies the tanh instead of the cap, so once |s| > 2c the tanh saturates and the
 * "capped" score is just s. This kernel computes s·tanh(s/c). */
#define CAP(s, c) ((s) * tanhf((s) / (c)))
#define CAP_SLOPE(s, c) (tanhf((s) / (c)) + (s) / (c) * (1.0f - tanhf((s) / (c)) * tanhf((s) / (c))))
#include "v2_template.h"
