/* A correct FlashAttention-style kernel with 8-key blocks. */
#include "online_template.h"
