// The theorems as predicates, so that everything that checks them (the prover's map, the catalogue's
// map, the reports) compares with one statement.
#pragma once

#include "symbreak/config.hpp"

namespace symbreak::proofs {

// T2, T3, T4: the prediction read at the last position is invariant to every permutation of tokens
// 1..n-1, for every weight, if and only if there is no positional encoding and either no mask
// (T2) or the causal mask with a single layer (T3); a causal mask from depth 2 on (T3) and any
// positional encoding (T4) break it. (An explicit mask breaks it at any depth: it sees positions.)
inline bool last_position_invariant(PositionalEncoding pe, MaskKind mask, int depth) {
  return pe == PositionalEncoding::none && (mask == MaskKind::none || (mask == MaskKind::causal && depth == 1));
}

}  // namespace symbreak::proofs
