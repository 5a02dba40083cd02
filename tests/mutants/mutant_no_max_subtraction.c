/* Bug: exp of the raw scores, without subtracting the row max: overflow at large logits. */
#define SUBTRACT_MAX 0
#include "kernel_template.h"
