// The symbolic prover: decides, for one architecture and sequence length, whether the model's outputs
// are invariant under permutations of the input, for EVERY real weight, every input and every
// interpretation of the nonlinearities.
//
// The one model definition is run with the symbolic scalar (symbolic.hpp): every weight is a symbol,
// the input is n distinct token symbols, nonlinearities are uninterpreted, sums and products are in
// AC-normal form and hash-consed. By T6 (proofs/T6_generators.md) it suffices to check the adjacent
// transpositions τ_j = (j, j+1):
//
//   PROVEN    the outputs are the same DAG node under every generator of the group
//   REFUTED   they differ, and evaluating the model in Exact at random rational weights gives a
//             nonzero difference (the witness: permutation, tokens, exact difference)
//   UNKNOWN   they differ but no numeric difference was found (reported honestly; not expected)
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "symbreak/model.hpp"
#include "symbreak/permutation.hpp"

namespace symbreak::proofs {

enum class Verdict { proven, refuted, unknown };
std::string_view to_string(Verdict v);

struct Witness {
  Permutation sigma;        // the permutation (a generator) that changes the output
  std::vector<int> tokens;  // the input
  int position = -1, logit = -1;
  std::string exact_difference;  // f(σx) - f(x) there (or f(σx) - σf(x) for EQUIV), exactly
  std::size_t exact_bits = 0;
  std::uint64_t weight_seed = 0;
};

struct GroupVerdict {
  std::string group;  // "S on tokens 1..i-1 at position i" or "S_n (EQUIV)"
  int position = -1;  // output position (0-based); -1 for EQUIV
  Verdict verdict = Verdict::proven;
  std::optional<Witness> witness;
};

struct ProofReport {
  ModelConfig config;
  int n = 0;
  std::vector<GroupVerdict> positions;  // one per output position i: the group permuting positions < i
  GroupVerdict equivariance;            // the full S_n
  std::size_t dag_nodes = 0;
  double seconds = 0;
  const GroupVerdict& last() const { return positions.back(); }
};

struct ProveOptions {
  int refutation_seeds = 3;  // Exact evaluations at random rational weights before UNKNOWN
  // An intervention applied to the symbolic forward pass and to the Exact one (for soundness tests:
  // a position-dependent term added after some block). Receives the layer and the stream (N, d).
  std::function<void(int layer, Tensor<Expr>& stream)> symbolic_hook;
  std::function<void(int layer, Tensor<Exact>& stream)> exact_hook;
};

// Decides every position's prefix group and the full S_n for `config` at sequence length n
// (n <= context_length; the vocabulary is widened to n distinct tokens if needed).
ProofReport prove(const ModelConfig& config, int n, const ProveOptions& options = {});

// ---- The map ------------------------------------------------------------------------------------

struct ProofMapCell {
  PositionalEncoding pe;
  MaskKind mask;
  int depth;
  bool residual;
  ProofReport report;  // the verdict at the last position is the cell's
};

// PE × mask × depth 1..max_depth × residuals on/off, each cell proved at sequence length n with a
// representative architecture (2 heads, d = 4, pre-LayerNorm, GELU MLP).
std::vector<ProofMapCell> proof_map(int n, int max_depth = 3);

// ---- Exhaustive exact checks ---------------------------------------------------------------------

struct ExhaustiveResult {
  std::string group;  // "S_{n-1} on tokens 1..n-1 (last position)" or "S_n (EQUIV)"
  std::size_t equal = 0, total = 0;
  double seconds = 0;
};

// Every permutation of the group, evaluated in Exact at random weights (seeded), compared exactly.
ExhaustiveResult exhaustive_last_position(const ModelConfig& config, int n, std::uint64_t seed);
ExhaustiveResult exhaustive_equivariance(const ModelConfig& config, int n, std::uint64_t seed);

}  // namespace symbreak::proofs
