/* Bug: head h reads the keys of head h + 1. */
#define K_HEAD(p, b, h) ((size_t)(b) * (p)->heads + ((h) + 1) % (p)->heads)
#include "kernel_template.h"
