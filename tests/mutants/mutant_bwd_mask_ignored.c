/* Backward bug: the backward pass recomputes P without the explicit mask. */
#define BWD_VISIBLE(p, i, j) (!(p)->causal || (j) <= (i))
#include "kernel_template.h"
#include "backward_template.h"
