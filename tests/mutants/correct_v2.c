/* A correct version-2 kernel (grouped heads, bottom-right alignment, windows, key lengths, per-head
 * masks, empty rows, strided layouts), forward and backward: the template without changes. */
#include "v2_template.h"
