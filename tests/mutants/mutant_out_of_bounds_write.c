/* Bug: a correct result, then one float written past the end of `out`. */
#define symbreak_attention_forward correct_forward
#include "kernel_template.h"
#undef symbreak_attention_forward
int symbreak_attention_forward(const symbreak_attention_problem* p) {
  const int rc = correct_forward(p);
  p->out[(size_t)p->batch * p->heads * p->n_q * p->d_v] = 0.0f;
  return rc;
}
