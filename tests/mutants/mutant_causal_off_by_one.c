/* Bug: the causal test is j < i, so a query cannot see its own key (row 0 sees nothing). */
#define VISIBLE(p, i, j) ((!(p)->causal || (j) < (i)) && (!(p)->mask || (p)->mask[(size_t)(i) * (p)->n_k + (j)]))
#include "kernel_template.h"
