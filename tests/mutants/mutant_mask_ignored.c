/* Bug: the explicit mask is ignored (only the causal flag is honoured). */
#define VISIBLE(p, i, j) (!(p)->causal || (j) <= (i))
#include "kernel_template.h"
