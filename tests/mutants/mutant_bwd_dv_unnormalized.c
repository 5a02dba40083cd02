/* Backward bug: dV accumulates the unnormalised exp(s - m) instead of P (a forgotten 1/l). */
#define DV_UNNORMALIZED 1
#include "kernel_template.h"
#include "backward_template.h"
