/* A correct kernel, forward and backward: the templates without changes. */
#include "kernel_template.h"
#include "backward_template.h"
