/* Bug: the last key block is skipped when n_k is not a multiple of the block size. */
#define DROP_REMAINDER 1
#include "online_template.h"
