// The claims `symbreak reproduce` decides, as data (experiments/claims.json), read strictly. A claim
// is one of three kinds, each with its own table in the report:
//   exact           proved or refuted: property checks in Exact arithmetic and the symbolic prover;
//   implementation  a result a theorem guarantees (T7's ceiling): it fails only if symbreak is wrong;
//   empirical       trainings decided by a plan's rule; these can go either way.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace symbreak::experiments {

enum class ClaimKind { exact, implementation, empirical };
std::string_view to_string(ClaimKind kind);  // "exact", "implementation", "empirical"

struct ClaimSpec {
  std::string id, source, statement, ran;
  ClaimKind kind = ClaimKind::empirical;
  std::vector<std::string> commands;
  // Exact evidence: property -> expected status ("holds", "broken-as-expected"), and prover report
  // (no_mask, causal1, causal2, learned) -> expected verdict ("PROVEN", "REFUTED").
  std::vector<std::pair<std::string, std::string>> checks, prover;
  // Sweep evidence: the plan (residual, depth, symmetry, biases) and the id of its decision rule.
  std::string plan, rule;
  // The claims that restate this one on a follow-up plan (B3 -> B3-ECD, ...): where this claim's own
  // plan was not run, the report says which of them decide it instead. Each is a claim id of the file.
  std::vector<std::string> restated_by;
};

struct ClaimsFile {
  std::string path;
  std::map<std::string, std::string> sources;                // "A" -> "Paper A: ..."
  std::vector<std::pair<ClaimKind, std::string>> kinds;      // each kind's description, in report order
  std::vector<ClaimSpec> claims;
};

// Reads a claims file; a ConfigError names the field of anything unknown, missing or malformed.
ClaimsFile load_claims(const std::string& path);

}  // namespace symbreak::experiments
