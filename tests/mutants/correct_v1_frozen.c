/* A plugin as built against the first release of the ABI: its abi_version returns 1 and it exports
 * only the version-1 functions (the templates, unchanged). It must keep passing: attention_abi.h
 * promises that version-1 plugins work unchanged. */
#include "symbreak/attention_abi.h"
#undef SYMBREAK_ATTENTION_ABI_VERSION
#define SYMBREAK_ATTENTION_ABI_VERSION 1
#include "kernel_template.h"
#include "backward_template.h"
