// symbreak prove: statements for ALL weights and inputs, checked by machine.
#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "symbreak/io.hpp"
#include "symbreak/proofs/ceiling.hpp"
#include "symbreak/proofs/prover.hpp"
#include "symbreak/proofs/theorems.hpp"
#include "symbreak/properties/report.hpp"
#include "symbreak/properties/runner.hpp"
#include "symbreak/text.hpp"
#include "table.hpp"

namespace symbreak::cli {
namespace {

struct ProveFlags {
  std::string config_path;
  int layers = 2, heads = 2, d_model = 4, length = 6;
  std::string mask = "none", pe = "none", activation = "gelu";
  bool no_residual = false, no_layernorm = false, no_mlp = false;
  bool map = false, exhaustive = false, rotations = false;
  std::string ceiling, json_path;
  int cases = 100;
  std::uint64_t seed = 1;
};

std::string witness_text(const proofs::GroupVerdict& g) {
  if (!g.witness) return g.verdict == proofs::Verdict::unknown ? "terms differ, no numeric difference found" : "";
  const proofs::Witness& w = *g.witness;
  int a = -1, b = -1;
  for (std::size_t i = 0; i < w.sigma.size(); ++i)
    if (w.sigma[i] != static_cast<int>(i)) (a < 0 ? a : b) = static_cast<int>(i) + 1;
  return "σ = (" + std::to_string(a) + " " + std::to_string(b) + "), x = " + symbreak::to_string(w.tokens) +
         ": Δ = " + text::sci(exact_to_double(Exact(w.exact_difference))) + " at position " + std::to_string(w.position + 1) +
         ", logit " + std::to_string(w.logit) + " (exact, " + std::to_string(w.exact_bits) + "-bit rational)";
}

ModelConfig config_from(const ProveFlags& f) {
  if (!f.config_path.empty()) return load_config_file(f.config_path);
  ModelConfig c = make_config(std::max(16, f.length), std::max(16, f.length), f.d_model, f.heads, f.layers);
  c.d_ff = 2 * f.d_model;
  c.mask = f.mask == "causal" ? MaskKind::causal : MaskKind::none;
  c.positional_encoding = f.pe == "learned"      ? PositionalEncoding::learned
                          : f.pe == "sinusoidal" ? PositionalEncoding::sinusoidal
                                                 : PositionalEncoding::none;
  c.activation = f.activation == "relu"        ? Activation::relu
                 : f.activation == "gelu_tanh" ? Activation::gelu_tanh
                                               : Activation::gelu;
  c.layernorm = c.final_layernorm = !f.no_layernorm;
  c.mlp = !f.no_mlp;
  if (f.no_residual) c.residual_attention = c.residual_mlp = std::vector<bool>(f.layers, false);
  validate_config(c);
  return c;
}

int run_single(const ProveFlags& f) {
  const ModelConfig c = config_from(f);
  const proofs::ProofReport r = proofs::prove(c, f.length);
  std::cout << "symbreak prove: " << describe(r.config) << ", n = " << r.n << "\n"
            << "PROVEN: identical canonical terms for every weight, input and interpretation of the nonlinearities\n\n";
  Table t({"output", "group (permutations of)", "verdict", "witness"});
  for (const auto& g : r.positions)
    t.add({"position " + std::to_string(g.position + 1),
           g.position < 2 ? "tokens before it (trivial group)" : "tokens 1.." + std::to_string(g.position),
           std::string(proofs::to_string(g.verdict)), witness_text(g)});
  t.add({"every position", r.equivariance.group, std::string(proofs::to_string(r.equivariance.verdict)),
         witness_text(r.equivariance)});
  t.print(std::cout);
  std::printf("\nDAG: %zu nodes, %.2f s\n", r.dag_nodes, r.seconds);
  bool unknown = r.equivariance.verdict == proofs::Verdict::unknown;
  for (const auto& g : r.positions) unknown = unknown || g.verdict == proofs::Verdict::unknown;
  return unknown ? 1 : 0;
}

int run_map(const ProveFlags& f) {
  std::cout << "symbreak prove --map: is the prediction at the last position invariant to every permutation of "
               "tokens 1..n-1, for all weights? (n = "
            << f.length << ", 2 heads, d = 4, LN, GELU MLP)\n\n";
  const auto cells = proofs::proof_map(f.length);
  Table t({"PE", "mask", "depth", "residual", "verdict", "theorem", "DAG nodes", "seconds"});
  int agree = 0;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& c : cells) {
    const proofs::Verdict v = c.report.last().verdict;
    const bool invariant_by_theorem = proofs::last_position_invariant(c.pe, c.mask, c.depth);
    const bool agrees = (v == proofs::Verdict::proven) == invariant_by_theorem && v != proofs::Verdict::unknown;
    agree += agrees;
    t.add({std::string(to_string(c.pe)), std::string(to_string(c.mask)), std::to_string(c.depth), c.residual ? "on" : "off",
           std::string(proofs::to_string(v)) + (agrees ? "" : "  DISAGREES"), invariant_by_theorem ? "invariant" : "broken",
           std::to_string(c.report.dag_nodes), fmt::format("{:.2f}", c.report.seconds)});
    j.push_back({{"pe", std::string(to_string(c.pe))},
                 {"mask", std::string(to_string(c.mask))},
                 {"depth", c.depth},
                 {"residual", c.residual},
                 {"verdict", std::string(proofs::to_string(v))},
                 {"dag_nodes", c.report.dag_nodes},
                 {"seconds", c.report.seconds}});
  }
  t.print(std::cout);
  std::cout << "\nAgrees with the theorem (invariant iff no PE and either no mask or a causal mask at depth 1) in " << agree
            << "/" << cells.size() << " cells.\n";
  if (!f.json_path.empty()) write_file_atomically(f.json_path, nlohmann::json{{"map", j}}.dump(2));
  return agree == static_cast<int>(cells.size()) ? 0 : 1;
}

int run_exhaustive(const ProveFlags& f) {
  if (f.length > 8)
    throw std::invalid_argument("--exhaustive: --length " + std::to_string(f.length) + " is too long (allowed: up to 8)");
  const ModelConfig c = config_from(f);
  std::cout << "symbreak prove --exhaustive: every permutation, Exact arithmetic, random weights (seed " << f.seed << "); "
            << describe(c) << ", n = " << f.length << "\n\n";
  for (const auto& r :
       {proofs::exhaustive_last_position(c, f.length, f.seed), proofs::exhaustive_equivariance(c, f.length, f.seed)})
    std::printf("%-46s %zu/%zu equal  (%.1f s)\n", r.group.c_str(), r.equal, r.total, r.seconds);
  return 0;
}

int run_rotations(const ProveFlags& f) {
  std::cout << "symbreak prove --rotations: T5 is not an AC identity; it is checked exactly (Exact arithmetic, exact\n"
               "Cayley rotations and LU-invertible matrices) on random models and inputs.\n\n";
  properties::CheckOptions o;
  o.properties = {"ROT-QK", "ROT-QK-GL", "ROT-VO", "BIAS-KEY", "BIAS-QUERY-BREAKS", "BIAS-VALUE-BREAKS"};
  o.ariths = {properties::Precision::exact};
  o.cases = f.cases;
  o.seed = f.seed;
  o.failure_dir.clear();
  const auto verdicts = properties::run_check(properties::reference_target(), o);
  bool ok = true;
  for (const auto& v : verdicts) {
    ok = ok && v.passed();
    std::cout << v.property << ": "
              << (v.status == properties::Status::holds
                      ? "checked exactly on " + std::to_string(v.cases) + " random cases, all equal"
                  : v.status == properties::Status::broken_as_expected
                      ? "broken, as T5 says: " + properties::evidence(v)
                      : std::string(properties::to_string(v.status)) + ": " + properties::evidence(v))
              << "\n";
  }
  return ok ? 0 : 1;
}

int run_ceiling(const ProveFlags& f) {
  if (f.ceiling != "addition3") throw std::invalid_argument("--ceiling " + f.ceiling + " is not known (allowed: addition3)");
  const proofs::AdditionCeiling c = proofs::addition3_ceiling();
  std::cout << "symbreak prove --ceiling addition3: the best accuracy of any predictor that sees only the multiset of\n"
               "preceding tokens and the last token (all 10^6 problems enumerated)\n\n";
  const char* names[] = {"units", "tens", "hundreds", "thousands"};
  for (const auto& d : c.digits)
    std::printf("digit %d (%-9s) %.5f = %s  (%zu information classes)\n", d.digit, names[d.digit], exact_to_double(d.ceiling),
                exact_to_string(d.ceiling).c_str(), d.classes);
  std::printf("\nwhole answer, teacher forced: at most %.5f = %s (per-digit ceilings, first two digits jointly);\n",
              exact_to_double(c.whole_upper_bound), exact_to_string(c.whole_upper_bound).c_str());
  std::printf("an explicit predictor reaches %.5f = %s%s\n", exact_to_double(c.whole_lower_bound),
              exact_to_string(c.whole_lower_bound).c_str(),
              c.whole_lower_bound == c.whole_upper_bound ? ", so the ceiling is exact" : " (the exact ceiling lies between)");
  std::printf("(%.1f s)\n", c.seconds);
  if (!f.json_path.empty()) {
    write_file_atomically(f.json_path, proofs::ceiling_json(c) + "\n");
    std::cout << "written to " << f.json_path << "\n";
  }
  return 0;
}

}  // namespace

Action register_prove(CLI::App& app) {
  auto f = std::make_shared<ProveFlags>();
  CLI::App* cmd = app.add_subcommand(
      "prove", "Prove or refute permutation invariance for all weights; the map; exhaustive checks; the Bayes ceiling");
  cmd->add_option("--config", f->config_path, "A model config (JSON)")->check(CLI::ExistingFile);
  cmd->add_option("--layers", f->layers, "Depth")->check(CLI::Range(1, 8));
  cmd->add_option("--heads", f->heads, "Heads")->check(CLI::Range(1, 8));
  cmd->add_option("--d-model", f->d_model, "Width")->check(CLI::Range(1, 64));
  cmd->add_option("--mask", f->mask, "none or causal")->check(CLI::IsMember({"none", "causal"}));
  cmd->add_option("--pe", f->pe, "none, learned or sinusoidal")->check(CLI::IsMember({"none", "learned", "sinusoidal"}));
  cmd->add_option("--activation", f->activation, "gelu, gelu_tanh or relu")->check(CLI::IsMember({"gelu", "gelu_tanh", "relu"}));
  cmd->add_flag("--no-residual", f->no_residual, "No residual connections");
  cmd->add_flag("--no-layernorm", f->no_layernorm, "No LayerNorm");
  cmd->add_flag("--no-mlp", f->no_mlp, "Attention-only blocks");
  cmd->add_option("--length", f->length, "Sequence length n")->check(CLI::Range(1, 32));
  cmd->add_flag("--map", f->map, "The PE × mask × depth × residuals table of verdicts");
  cmd->add_flag("--exhaustive", f->exhaustive, "Every permutation in Exact arithmetic (n <= 8)");
  cmd->add_flag("--rotations", f->rotations, "T5: rotations and biases, checked exactly on random cases");
  cmd->add_option("--ceiling", f->ceiling, "The Bayes ceiling of a task: addition3");
  cmd->add_option("--cases", f->cases, "Cases for --rotations")->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", f->seed, "Seed for random weights");
  cmd->add_option("--json", f->json_path, "Write the map or the ceiling as JSON");
  return [f]() {
    if (!f->ceiling.empty()) return run_ceiling(*f);
    if (f->map) return run_map(*f);
    if (f->exhaustive) return run_exhaustive(*f);
    if (f->rotations) return run_rotations(*f);
    return run_single(*f);
  };
}

}  // namespace symbreak::cli
