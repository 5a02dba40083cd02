/* History: NVIDIA-NeMo/Automodel pull request #2658 (and microsoft/onnxscript #2654): masks written as
 * an additive torch.finfo(dtype).min. Added to a bias that is itself −FLT_MAX, the masked and the
 * visible scores both land at about −FLT_MAX (or overflow to −inf) and the softmax can no longer tell
 * them apart. When given a bias, this kernel masks by adding −FLT_MAX to the biased score and keeps
 * the key (its path without a bias masks correctly). */
#define ADDITIVE_MASK(p) ((p)->bias != NULL)
#include "v2_template.h"
