/* Backward bug: dS = P ∘ dP, missing the -rowsum(dO ∘ O) term (softmax rows' gradients no longer sum to zero). */
#define ROWSUM_TERM 0
#include "kernel_template.h"
#include "backward_template.h"
