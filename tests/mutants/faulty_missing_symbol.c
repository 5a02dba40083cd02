/* Fault isolation: exports only the version function. */
#include "symbreak/attention_abi.h"
int symbreak_attention_abi_version(void) { return SYMBREAK_ATTENTION_ABI_VERSION; }
