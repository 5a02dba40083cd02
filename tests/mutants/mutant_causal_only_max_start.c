/* Bug: a causal-only FlashAttention-style kernel whose running max starts at a finite constant
 * (-10000): a row whose scores all lie below it comes out as 0/0. It supports only the causal mask,
 * the default scale and d_v == d_head, says so, and refuses anything else. */
#define MAX_START (-10000.0f)
#define FORWARD_NAME online_forward
#include "online_template.h"

int symbreak_attention_forward(const symbreak_attention_problem* p) {
  if (!p->causal || p->mask || p->d_v != p->d_head || p->scale != 1.0f / sqrtf((float)p->d_head)) return 3;
  return online_forward(p);
}

int symbreak_attention_capabilities(symbreak_attention_caps* caps) {
  caps->mask_modes = SYMBREAK_MASK_CAUSAL;
  caps->any_scale = 0;
  caps->dv_differs = 0;
  return 0;
}
