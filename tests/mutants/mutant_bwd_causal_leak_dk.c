/* Backward bug: dK's pass recomputes P without the causal mask, so later keys get gradient from earlier queries. */
#define DK_IGNORES_CAUSAL 1
#include "kernel_template.h"
#include "backward_template.h"
