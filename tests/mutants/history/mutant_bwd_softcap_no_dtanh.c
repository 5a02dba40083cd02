/* History: Dao-AILab/flash-attention pull request #1033 ("backwards for softcapping") and
 * openxla/tokamax pull request #1121: the first softcapping kernels had a forward pass only, and the
 * backward had to chain 1 − tanh²(s/c) into dS. A backward that reuses the uncapped formula is right
 * wherever the cap is far away and wrong where it bites. This kernel's forward is correct; its
 * backward leaves the factor out. */
#define BWD_SOFTCAP 0
#include "v2_template.h"
