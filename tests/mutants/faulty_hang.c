/* Fault isolation: never returns when heads > 1. */
#define symbreak_attention_forward correct_forward
#include "kernel_template.h"
#undef symbreak_attention_forward
int symbreak_attention_forward(const symbreak_attention_problem* p) {
  if (p->heads > 1)
    for (volatile int spin = 1; spin;) {
    }
  return correct_forward(p);
}
