/* Bug: a backward pass whose dQ rounding changes from call to call, as when dQ is accumulated with
 * atomic adds in whatever order the blocks finish, in a kernel that declares itself deterministic
 * (Dao-AILab/flash-attention issue #2244: FA3 with deterministic=True, dQ differs between runs
 * while dK, dV and the forward do not; #414: FA2's backward dQ, before its deterministic mode).
 * Every value is within rounding of the right one, so only a bitwise rerun sees it, and it is a bug
 * only when the kernel declares `deterministic`: the test validates this plugin with the word
 * (BWD-DETERMINISM fails) and without (a warning). Every other call re-rounds dQ through
 * x + 2^-10 - 2^-10. */
#define BACKWARD_NAME full_backward
#include "kernel_template.h"
#include "backward_template.h"

static int calls = 0;

int symbreak_attention_backward(const symbreak_attention_backward_problem* b) {
  const int rc = full_backward(b);
  if (rc != 0 || (calls++ % 2) == 0) return rc;
  const symbreak_attention_problem* p = &b->forward;
  const size_t n = (size_t)p->batch * p->heads * p->n_q * p->d_head;
  volatile float shift = 0x1p-10f;
  for (size_t i = 0; i < n; ++i) b->d_q[i] = (b->d_q[i] + shift) - shift;
  return 0;
}
