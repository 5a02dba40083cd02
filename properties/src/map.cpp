#include "symbreak/properties/map.hpp"

#include <fmt/format.h>

#include "symbreak/properties/report.hpp"
#include "symbreak/text.hpp"

namespace symbreak::properties {

std::vector<MapCell> symmetry_map(const MapOptions& options) {
  const Property& next = find_property("NEXT");
  const Target target = reference_target();
  CheckOptions check;
  check.cases = options.cases;
  check.probes = options.probes;
  check.seed = options.seed;
  check.seed = resolve_seed(check);
  check.shrink_seconds = options.shrink_seconds;
  check.failure_dir.clear();
  check.limits = options.limits;
  std::vector<MapCell> cells;
  for (PositionalEncoding pe : {PositionalEncoding::none, PositionalEncoding::learned, PositionalEncoding::sinusoidal})
    for (MaskKind mask : {MaskKind::none, MaskKind::causal})
      for (int depth = 1; depth <= options.max_depth; ++depth)
        for (bool residual : {true, false}) {
          // The NEXT comparison, searched within exactly this cell.
          Property cell = next;
          cell.architectures.masks = {mask};
          cell.architectures.encodings = {pe};
          cell.architectures.min_layers = cell.architectures.max_layers = depth;
          cell.architectures.min_length = 3;
          cell.architectures.residual = residual;
          cells.push_back({pe, mask, depth, residual, run_property(cell, Precision::exact, target, check)});
        }
  return cells;
}

void print_map(std::ostream& out, const std::vector<MapCell>& cells, const Theorem& theorem) {
  out << "PE          mask    depth  residual  last-position invariance   evidence\n";
  int agree = 0;
  for (const MapCell& c : cells) {
    const Verdict& v = c.verdict;
    std::string verdict = c.invariant() ? "holds (exact, " + std::to_string(v.cases) + " cases)" : "broken (exact witness)";
    if (c.invariant() != theorem(c.pe, c.mask, c.depth)) verdict += " DISAGREES";
    else ++agree;
    std::string row =
        fmt::format("{:<11} {:<7} {:<6} {:<9} ", to_string(c.pe), to_string(c.mask), c.depth, c.residual ? "on" : "off") +
        verdict;
    row.resize(std::max<std::size_t>(row.size(), 63), ' ');
    std::string detail = v.note.empty() ? "max|Δ| = 0" : v.note;
    if (!c.invariant()) {
      const Finding& f = *v.finding;
      const ModelConfig& m = f.found.model.config;
      const Probe& p = f.found.probes.front();
      detail = symbreak::describe(m) + ", x=" + symbreak::to_string(p.tokens) + " σ=" + symbreak::to_string(p.sigma) +
               ": Δ = " + text::sci(f.deviation) + " (" + std::to_string(f.exact_bits) + "-bit rational)";
    }
    out << row << detail << '\n';
  }
  out << "\nThe map agrees with the theorem (invariant iff no PE and either no mask or a causal mask at depth 1) in " << agree
      << "/" << cells.size() << " cells.\n";
}

}  // namespace symbreak::properties
