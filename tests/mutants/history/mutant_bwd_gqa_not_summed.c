/* History: marin-community/levanter pull request #449, "Bugfix: GQA with FA": K and V are broadcast
 * over the query heads of a group in the forward pass, "but the un-broadcast cannot be automatically
 * done by the FA backward kernel": dK and dV must sum over the group. Here only the last query head
 * of each group contributes to its KV head's dK and dV. */
#define BWD_KV_FROM(h, group) ((h) % (group) == (group) - 1)
#include "v2_template.h"
