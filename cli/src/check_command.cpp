// symbreak check: the property catalogue on the reference model (or a deliberately broken variant),
// and the symmetry map.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "symbreak/io.hpp"
#include "symbreak/proofs/theorems.hpp"
#include "symbreak/properties/map.hpp"
#include "symbreak/properties/report.hpp"
#include "symbreak/properties/runner.hpp"

namespace symbreak::cli {
namespace {

struct CheckFlags {
  std::vector<std::string> properties;
  std::vector<std::string> ariths;
  std::optional<int> cases;
  int probes = 4;
  std::optional<std::uint64_t> seed;
  std::string json_path, junit_path, replay_path;
  std::string failure_dir = ".symbreak/failures";
  bool no_failure_db = false, map = false, stats = false, no_shrink = false;
  double time_cap = 60, shrink_cap = 30;
  std::string fault = "none";
  double epsilon = 1e-3;
  double tolerance_c = 2, atol_ulps = 2;
};

nlohmann::json map_json(const std::vector<properties::MapCell>& cells) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& c : cells)
    j.push_back({{"pe", std::string(to_string(c.pe))},
                 {"mask", std::string(to_string(c.mask))},
                 {"depth", c.depth},
                 {"residual", c.residual},
                 {"invariant", c.invariant()},
                 {"theorem_says_invariant", proofs::last_position_invariant(c.pe, c.mask, c.depth)},
                 {"cases", c.verdict.cases},
                 {"evidence", properties::evidence(c.verdict)}});
  return j;
}

int run_map(const CheckFlags& f) {
  properties::MapOptions options;
  options.seed = f.seed;
  if (f.cases) options.cases = *f.cases;
  options.probes = f.probes;
  std::cout << "symbreak check --map: is the prediction at the last position invariant to every permutation of "
               "tokens 1..n-1?\nEach cell searched in Exact arithmetic; a witness is shrunk to the smallest model "
               "and sequence found.\n\n";
  const auto cells = properties::symmetry_map(options);
  properties::print_map(std::cout, cells, proofs::last_position_invariant);
  if (!f.json_path.empty()) write_file_atomically(f.json_path, nlohmann::json{{"map", map_json(cells)}}.dump(2));
  for (const auto& c : cells)
    if (c.invariant() != proofs::last_position_invariant(c.pe, c.mask, c.depth)) return 1;
  return 0;
}

}  // namespace

Action register_check(CLI::App& app) {
  auto f = std::make_shared<CheckFlags>();
  CLI::App* cmd = app.add_subcommand("check", "Run the symmetry property catalogue (or the symmetry map)");
  cmd->add_option("--property", f->properties, "Properties to run (default: all)")->delimiter(',');
  cmd->add_option("--arith", f->ariths, "f32, f64, exact or all (repeatable; default: all)")
      ->check(CLI::IsMember({"f32", "f64", "exact", "all"}))
      ->delimiter(',');
  cmd->add_option("--cases", f->cases, "Models per property and arithmetic (default 100)")->check(CLI::Range(1, 1000000));
  cmd->add_option("--probes", f->probes, "Inputs per model")->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", f->seed, "Seed (default: RC_PARAMS seed, else random)");
  cmd->add_option("--json", f->json_path, "Write the verdicts as JSON");
  cmd->add_option("--junit", f->junit_path, "Write JUnit XML");
  cmd->add_option("--replay", f->replay_path, "Re-run one saved failure (a file of the failure database)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--failures", f->failure_dir, "Failure database directory");
  cmd->add_flag("--no-failure-db", f->no_failure_db, "Neither replay nor save failures");
  cmd->add_flag("--map", f->map, "Print the symmetry map (PE × mask × depth × residuals) instead");
  cmd->add_flag("--stats", f->stats, "Print cases by architecture");
  cmd->add_flag("--no-shrink", f->no_shrink, "Do not shrink counterexamples and witnesses");
  cmd->add_option("--time-cap", f->time_cap, "Seconds of search per property and arithmetic")->check(CLI::PositiveNumber);
  cmd->add_option("--shrink-cap", f->shrink_cap, "Seconds of shrinking per finding")->check(CLI::NonNegativeNumber);
  std::string faults;
  for (properties::Fault fault : properties::all_faults()) faults += (faults.empty() ? "" : ", ") + std::string(to_string(fault));
  cmd->add_option("--fault", f->fault, "Check a deliberately broken reference model: " + faults);
  cmd->add_option("--epsilon", f->epsilon, "Size of the fault")->check(CLI::PositiveNumber);
  cmd->add_option("--tolerance-c", f->tolerance_c, "Float bound: c in c·err_ref + atol")->check(CLI::PositiveNumber);
  cmd->add_option("--atol-ulps", f->atol_ulps, "Float bound: atol in units of u·max|output|")->check(CLI::NonNegativeNumber);

  return [f]() {
    check_writable(f->json_path, "--json");
    check_writable(f->junit_path, "--junit");
    if (f->map) return run_map(*f);

    properties::CheckOptions options;
    options.properties = f->properties;
    for (const auto& name : f->properties) properties::find_property(name);  // unknown names fail before any work
    if (!f->ariths.empty() && std::find(f->ariths.begin(), f->ariths.end(), "all") == f->ariths.end()) {
      options.ariths.clear();
      for (const auto& a : f->ariths) options.ariths.push_back(properties::arith_from_string(a));
    }
    options.cases = f->cases;
    options.probes = f->probes;
    options.seed = f->seed;
    options.search_seconds = f->time_cap;
    options.shrink_seconds = f->shrink_cap;
    options.shrink = !f->no_shrink;
    options.failure_dir = f->no_failure_db ? "" : f->failure_dir;
    options.tolerance = {f->tolerance_c, f->atol_ulps};
    const properties::FaultSpec fault{properties::fault_from_string(f->fault), f->epsilon};

    std::vector<properties::Verdict> verdicts;
    std::uint64_t seed = 0;
    if (!f->replay_path.empty()) {
      verdicts.push_back(properties::replay_file(f->replay_path, options));
      std::cout << "symbreak check --replay " << f->replay_path << "\n\n";
    } else {
      seed = properties::resolve_seed(options);
      options.seed = seed;
      const properties::Target target = properties::reference_target(fault);
      std::cout << "symbreak check: " << target.name << " model, seed " << seed << ", " << options.cases.value_or(100)
                << " models × " << options.probes << " inputs per property and arithmetic\n"
                << "Exact: equality; f32/f64: |Δ| ≤ c·err_ref + atol, err_ref measured against Exact\n\n";
      verdicts = properties::run_check(target, options);
    }
    properties::print_table(std::cout, verdicts);
    properties::print_findings(std::cout, verdicts);
    if (f->stats) {
      std::cout << '\n';
      properties::print_statistics(std::cout, verdicts);
    }
    if (!f->json_path.empty()) write_file_atomically(f->json_path, properties::to_json(verdicts, seed));
    if (!f->junit_path.empty()) write_file_atomically(f->junit_path, properties::to_junit(verdicts, "symbreak.check"));
    const bool all_passed = std::all_of(verdicts.begin(), verdicts.end(), [](const auto& v) { return v.passed(); });
    return all_passed ? 0 : 1;
  };
}

}  // namespace symbreak::cli
