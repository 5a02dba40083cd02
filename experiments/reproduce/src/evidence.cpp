// The exact evidence: the property catalogue in Exact arithmetic and the symbolic prover.
#include <fmt/format.h>

#include "internal.hpp"
#include "symbreak/properties/report.hpp"

namespace symbreak::experiments::detail {

using nlohmann::json;
namespace fs = std::filesystem;

// ---- exact evidence ------------------------------------------------------------------------------


static ModelConfig prover_config(MaskKind mask, PositionalEncoding pe, int layers) {
  ModelConfig c = make_config(16, 16, 4, 2, layers);
  c.d_ff = 8;
  c.mask = mask;
  c.positional_encoding = pe;
  validate_config(c);
  return c;
}

ExactEvidence exact_evidence(const ReproduceOptions& o, int cases, const std::function<void(const std::string&)>& log) {
  ExactEvidence e;
  e.cases = cases;
  properties::CheckOptions c;
  c.properties = {"EQUIV",  "NEXT",   "CAUSAL-DEPTH1", "CAUSAL-BREAKS",     "PE-BREAKS",
                  "ROT-QK", "ROT-VO", "BIAS-KEY",      "BIAS-QUERY-BREAKS", "BIAS-VALUE-BREAKS"};
  c.ariths = {properties::Precision::exact};
  c.cases = cases;
  c.seed = 1;
  c.failure_dir = o.out_dir + "/exact/failures";
  log("exact: the property catalogue in Exact arithmetic (" + std::to_string(cases) + " random models per property)");
  for (const auto& v : properties::run_check(properties::reference_target(), c, [&](const properties::Verdict& v) {
         log("  " + v.property + ": " + std::string(properties::to_string(v.status)));
       }))
    e.checks[v.property] = v;
  log("exact: the symbolic prover (for all weights) and the PE x mask x depth x residual map");
  e.no_mask = proofs::prove(prover_config(MaskKind::none, PositionalEncoding::none, 2), 6);
  e.causal2 = proofs::prove(prover_config(MaskKind::causal, PositionalEncoding::none, 2), 6);
  e.causal1 = proofs::prove(prover_config(MaskKind::causal, PositionalEncoding::none, 1), 6);
  e.learned = proofs::prove(prover_config(MaskKind::none, PositionalEncoding::learned, 1), 6);
  e.map = proofs::proof_map(6);
  return e;
}

std::string prover_text(const proofs::ProofReport& r) {
  const proofs::GroupVerdict& g = r.last();
  std::string s = std::string(proofs::to_string(g.verdict)) + " at the last position (L=" + std::to_string(r.config.layers) +
                  ", H=2, d=4, n=" + std::to_string(r.n) + ", mask " + std::string(to_string(r.config.mask)) + ", PE " +
                  std::string(to_string(r.config.positional_encoding)) + ")";
  if (g.witness)
    s += fmt::format(": exact witness Δ = {:.3g} ({}-bit rational)", exact_to_double(Exact(g.witness->exact_difference)),
                     g.witness->exact_bits);
  return s;
}

std::string check_text(const properties::Verdict& v) {
  return v.property + ": " + std::string(properties::to_string(v.status)) + " (" + properties::evidence(v) + ")";
}

}  // namespace symbreak::experiments::detail
