/* Fault isolation: reports ABI version 2. */
#define symbreak_attention_abi_version correct_version
#include "kernel_template.h"
#undef symbreak_attention_abi_version
int symbreak_attention_abi_version(void) { return 2; }
