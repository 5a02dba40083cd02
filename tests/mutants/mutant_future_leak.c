/* Bug: the causal test is j <= i + 1, so each query also sees the next key. */
#define VISIBLE(p, i, j) ((!(p)->causal || (j) <= (i) + 1) && (!(p)->mask || (p)->mask[(size_t)(i) * (p)->n_k + (j)]))
#include "kernel_template.h"
