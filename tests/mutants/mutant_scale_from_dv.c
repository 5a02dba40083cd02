/* Bug: the scale is recomputed as 1/sqrt(d_v) instead of using `scale`. */
#define SCALE(p) (1.0f / sqrtf((float)(p)->d_v))
#include "kernel_template.h"
