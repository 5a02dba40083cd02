/* History: vllm-project/vllm issue #56578, "Triton attention softcap returns NaN for large attention
 * logits": tanh(x) written as (e^x − e^−x) / (e^x + e^−x) overflows to inf / inf = NaN once
 * |s / c| > ~88 (Gemma 2's c = 50: any score past 4400), and the NaN poisons the whole row. The same
 * algebra, correct for moderate scores. */
static float tanh_by_exp(float x) { return (expf(x) - expf(-x)) / (expf(x) + expf(-x)); }
#define CAP(s, c) ((c) * tanh_by_exp((s) / (c)))
#define CAP_SLOPE(s, c) (1.0f - tanh_by_exp((s) / (c)) * tanh_by_exp((s) / (c)))
#include "v2_template.h"
