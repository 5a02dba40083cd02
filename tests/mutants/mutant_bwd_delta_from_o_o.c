/* Backward bug: D_i = rowsum(O ∘ O) instead of rowsum(dO ∘ O). */
#define DELTA_FROM_O_O 1
#include "kernel_template.h"
#include "backward_template.h"
