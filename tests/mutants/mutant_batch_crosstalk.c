/* Bug: every batch item reads the values of batch item 0. */
#define V_BATCH(p, b) 0
#include "kernel_template.h"
