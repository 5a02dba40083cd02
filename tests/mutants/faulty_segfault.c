/* Fault isolation: crashes with SIGSEGV when n_k > 3. */
#include <stddef.h>
#define symbreak_attention_forward correct_forward
#include "kernel_template.h"
#undef symbreak_attention_forward
int symbreak_attention_forward(const symbreak_attention_problem* p) {
  if (p->n_k > 3) {
    volatile int* null = NULL;
    *null = 1;
  }
  return correct_forward(p);
}
