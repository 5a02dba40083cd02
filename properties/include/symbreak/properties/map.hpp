// The symmetry map: for every (PE, mask, depth, residuals) cell, is the prediction at the last
// position invariant to permutations of tokens 1..n-1? Each cell is decided in Exact: "holds" after N
// cases with exactly zero difference, or "broken" with a shrunk exact witness. The theorem it tests
// (proofs/theorems.hpp, a layer up) is passed in by the caller.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <vector>

#include "symbreak/properties/runner.hpp"

namespace symbreak::properties {

struct MapCell {
  PositionalEncoding pe;
  MaskKind mask;
  int depth;
  bool residual;
  Verdict verdict;  // the NEXT comparison searched in Exact within the cell
  bool invariant() const { return !verdict.finding; }
};

// What a theorem says of a cell: is the last position invariant?
using Theorem = std::function<bool(PositionalEncoding, MaskKind, int depth)>;

struct MapOptions {
  int cases = 40;  // models per cell
  int probes = 4;  // inputs per model
  int max_depth = 3;
  std::optional<std::uint64_t> seed;
  double shrink_seconds = 5;
  SpaceLimits limits{3, 2, 4, 8, 8};  // layers, heads, head width, length, vocabulary
};

std::vector<MapCell> symmetry_map(const MapOptions& options);
// The table, each cell's verdict beside what the theorem says ("DISAGREES" where they differ).
void print_map(std::ostream& out, const std::vector<MapCell>& cells, const Theorem& theorem);

}  // namespace symbreak::properties
