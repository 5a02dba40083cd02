/* Fault isolation: reports ABI version 3, which this validator does not serve (it serves 1 and 2). */
#define symbreak_attention_abi_version correct_version
#include "kernel_template.h"
#undef symbreak_attention_abi_version
int symbreak_attention_abi_version(void) { return 3; }
