/* A correct kernel: the template without changes. */
#include "kernel_template.h"
