/* Bug: the running max starts at -10000, which breaks rows whose scores all lie below it. */
#define MAX_START (-10000.0f)
#include "online_template.h"
