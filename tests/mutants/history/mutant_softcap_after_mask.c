/* History: Dao-AILab/flash-attention pull request #1025 (the first softcapping draft), where the
 * review settled the order "gemm, softcapping, masking, softmax": capping after the mask turns a
 * masked key's −inf into c·tanh(−inf) = −c, a finite score, so "masked tokens will contribute a tiny
 * amount to the softmax … with a small softcap (like 1.0) this can lead to information leakage from
 * future tokens". This kernel caps after masking. */
#define MASKED_SCORE(p) ((p)->softcap > 0 ? -(p)->softcap : -INFINITY)
#include "v2_template.h"
