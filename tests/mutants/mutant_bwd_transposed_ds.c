/* Backward bug: dK reads dS transposed (dS[j][i] for dS[i][j]). */
#define TRANSPOSE_DS 1
#include "kernel_template.h"
#include "backward_template.h"
