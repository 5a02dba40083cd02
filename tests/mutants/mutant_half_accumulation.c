/* Bug: the weighted sum of values is accumulated in half precision. */
#define ACC_T _Float16
#include "kernel_template.h"
