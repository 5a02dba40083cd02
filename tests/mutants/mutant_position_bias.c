/* Bug: a tiny position-dependent bias on the scores. */
#define SCORE_BIAS(j) (1e-3f * (float)(j))
#include "kernel_template.h"
