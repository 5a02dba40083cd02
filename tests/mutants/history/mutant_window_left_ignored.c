/* History: proger/hippogriff issue #7, "sliding window attention bug?": window_size was passed to
 * flash_attn_func as (-window_size, 0), and a negative side means "unbounded", so the model ran
 * global attention where it meant a sliding window. This kernel drops the window's left bound. */
#define WINDOW_LO(at, left) (-2147483647)
#include "v2_template.h"
