// The symmetry map: for every (PE, mask, depth, residuals) cell, is the prediction at the last
// position invariant to permutations of tokens 1..n-1? Each cell is decided in Exact: "holds" after N
// cases with exactly zero difference, or "broken" with a shrunk exact witness. The theorem it makes
// precise: invariant if and only if there is no PE and either no mask or a causal mask at depth 1.
#pragma once

#include <optional>
#include <ostream>
#include <vector>

#include "symbreak/properties/runner.hpp"

namespace symbreak::props {

struct MapCell {
  PositionalEncoding pe;
  MaskKind mask;
  int depth;
  bool residual;
  Verdict verdict;  // the NEXT comparison searched in Exact within the cell
  bool invariant() const { return !verdict.finding; }
  bool theorem_says_invariant() const;
};

// The theorem: no PE, and no mask or (causal mask and depth 1).
bool last_position_invariant_by_theorem(PositionalEncoding pe, MaskKind mask, int depth);

struct MapOptions {
  int cases = 40;     // models per cell
  int probes = 4;     // inputs per model
  int max_depth = 3;
  std::optional<std::uint64_t> seed;
  double shrink_seconds = 5;
  SpaceLimits limits{3, 2, 4, 8, 8};  // layers, heads, head width, length, vocabulary
};

std::vector<MapCell> symmetry_map(const MapOptions& options);
void print_map(std::ostream& out, const std::vector<MapCell>& cells);

}  // namespace symbreak::props
