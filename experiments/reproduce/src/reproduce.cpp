// symbreak reproduce: the exact evidence, the plans' sweeps, and every claim's verdict in
// report.html and claims.json. The pieces are in the files internal.hpp lists.
#include "symbreak/reproduce/reproduce.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "internal.hpp"
#include "symbreak/io.hpp"

namespace symbreak::experiments {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace detail;

ReproduceResult reproduce(const ReproduceOptions& o, const std::function<void(const std::string&)>& log) {
  const auto start = std::chrono::steady_clock::now();
  const Scale scale = resolve(o);
  const bool root = !o.mpi || o.mpi->rank() == 0;
  if (root && fs::exists(o.out_dir) && !fs::is_empty(o.out_dir) && !o.resume)
    throw ConfigError("--out " + o.out_dir +
                      ": exists and is not empty; pass --resume to reuse its finished runs, or choose another --out");
  if (root) fs::create_directories(o.out_dir);

  std::vector<Plan> plans;
  const std::vector<std::string> names = plans_at(scale.dir);
  for (const auto& name : names) plans.push_back(load_plan(scale.dir + "/" + name + ".json"));
  // The claims and the plans' provenance are read (and refused) before anything runs.
  const ClaimsFile claims = load_claims(o.claims_file.empty() ? source_file("experiments/claims.json") : o.claims_file);
  for (const ClaimSpec& c : claims.claims) {
    const auto at = std::find(names.begin(), names.end(), c.plan);
    if (c.plan.empty() || at == names.end()) continue;  // a follow-up this scale does not have: not run
    const Plan& p = plans[static_cast<std::size_t>(at - names.begin())];
    if (!p.decision.is_object() || !p.decision.contains(c.rule))
      throw ConfigError(claims.path + ": claim " + c.id + " names the rule \"" + c.rule + "\", which " + p.path + " does not have");
  }
  auto provenance = load_provenance(scale.dir);
  ExactEvidence exact;
  if (root) exact = exact_evidence(o, scale.exact_cases, log);
  ReproduceResult result;
  if (o.verify) {
    if (root) result.verification = verify_committed(o, scale.dir, log);
  } else {
    run_sweeps(o, plans, root, log);
  }
  if (!root) return result;

  const Sweeps sweeps(o, std::move(plans));
  result.claims = claim_rows(claims, exact, sweeps, scale.exact_cases);
  const std::vector<ReportFigure> figures = claim_figures(sweeps);
  const std::vector<ProverMapRow> map = prover_map(exact);
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const json env = environment(o, result.wall_seconds);
  json claims_json = {{"environment", env}, {"claims", json::array()}};
  if (o.verify) {
    claims_json["verification"] = json::array();
    for (const VerifyRow& v : result.verification)
      claims_json["verification"].push_back(
          {{"sweep", v.sweep},
           {"check", v.what},
           {"status", v.status},
           {"ok", v.ok},
           {"detail", v.detail},
           {"command", v.command}});
  }
  for (const ClaimRow& c : result.claims)
    claims_json["claims"].push_back({{"id", c.id},
                                     {"kind", std::string(to_string(c.kind))},
                                     {"claim", c.claim},
                                     {"verdict", to_string(c.verdict)},
                                     {"ran", c.ran},
                                     {"measurement", c.measurement},
                                     {"commands", c.commands},
                                     {"numbers", c.numbers}});
  result.report = o.out_dir + "/report.html";
  result.claims_json = o.out_dir + "/claims.json";
  write_file_atomically(result.claims_json, claims_json.dump(2) + "\n");
  ReportInput report{result.claims, env, figures, map, claims.kinds, std::move(provenance), o.scale == "quick",
                     o.verify ? &result.verification : nullptr};
  write_file_atomically(result.report, report_html(report));
  return result;
}

}  // namespace symbreak::experiments
