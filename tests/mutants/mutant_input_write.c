/* Bug: the kernel writes into its const input q (nudging the first query) before computing. */
#define symbreak_attention_forward correct_forward
#include "kernel_template.h"
#undef symbreak_attention_forward
int symbreak_attention_forward(const symbreak_attention_problem* p) {
  ((float*)p->q)[0] += 1.0f;
  return correct_forward(p);
}
