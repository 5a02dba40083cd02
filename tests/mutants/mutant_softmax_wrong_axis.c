/* Bug: the softmax normalises over queries instead of keys. */
#define NORMALIZE_OVER_QUERIES 1
#include "kernel_template.h"
