/* Fault isolation: refuses problems with more than two queries. */
#define symbreak_attention_forward correct_forward
#include "kernel_template.h"
#undef symbreak_attention_forward
int symbreak_attention_forward(const symbreak_attention_problem* p) { return p->n_q > 2 ? 7 : correct_forward(p); }
