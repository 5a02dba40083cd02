/* A correct kernel, forward and backward, that supports only what most production kernels support:
 * the causal mask, the default scale 1/sqrt(d_head), d_v == d_head. It declares so through
 * symbreak_attention_capabilities, and refuses anything else. */
#define FORWARD_NAME full_forward
#define BACKWARD_NAME full_backward
#include "kernel_template.h"
#include "backward_template.h"

static int supported(const symbreak_attention_problem* p) {
  return p->causal && !p->mask && p->d_v == p->d_head && p->scale == 1.0f / sqrtf((float)p->d_head);
}

int symbreak_attention_forward(const symbreak_attention_problem* p) { return supported(p) ? full_forward(p) : 7; }
int symbreak_attention_backward(const symbreak_attention_backward_problem* b) { return supported(&b->forward) ? full_backward(b) : 7; }

int symbreak_attention_capabilities(symbreak_attention_caps* caps) {
  caps->mask_modes = SYMBREAK_MASK_CAUSAL;
  caps->any_scale = 0;
  caps->dv_differs = 0;
  return 0;
}
