/* Bug: the online softmax does not rescale its accumulator when the running max grows. */
#define RESCALE 0
#include "online_template.h"
