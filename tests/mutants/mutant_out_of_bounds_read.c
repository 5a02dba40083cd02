/* Bug: the loops read one key past the end of K and V. */
#define KEYS_READ(p) ((p)->n_k + 1)
#define VISIBLE(p, i, j) ((j) == (p)->n_k || ((!(p)->causal || (j) <= (i)) && (!(p)->mask || (p)->mask[(size_t)(i) * (p)->n_k + (j)])))
#include "kernel_template.h"
