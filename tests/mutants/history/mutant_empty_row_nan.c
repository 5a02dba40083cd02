/* History: pytorch/pytorch issue #41508, "nn.MultiheadAttention causes gradients to become NaN under
 * some use cases" (open since 2020; PR #42323 and #189045 propose fixes): a query row whose keys are
 * all masked is a softmax of -inf only, 0/0 = NaN, where the contract (PyTorch's _safe_softmax, ONNX)
 * is a zero row. */
#define EMPTY_ROW(out, n)                                   \
  do {                                                      \
    for (int c_ = 0; c_ < (n); ++c_) (out)[c_] = NAN;       \
  } while (0)
#include "v2_template.h"
