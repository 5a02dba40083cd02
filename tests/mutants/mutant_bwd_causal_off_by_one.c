/* Backward bug: the backward pass recomputes P with the causal mask off by one (j <= i + 1). */
#define BWD_VISIBLE(p, i, j) ((!(p)->causal || (j) <= (i) + 1) && (!(p)->mask || (p)->mask[(size_t)(i) * (p)->n_k + (j)]))
#include "kernel_template.h"
#include "backward_template.h"
