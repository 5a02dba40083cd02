/* Backward bug: the scale is missing in dQ only (dK and dV are right). */
#define DQ_SCALE(p) 1.0f
#include "kernel_template.h"
#include "backward_template.h"
