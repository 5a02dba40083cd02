// The plans' sweeps, and each claim's row from claims.json with its evidence.
#include <filesystem>

#include "internal.hpp"
#include "symbreak/properties/report.hpp"

namespace symbreak::experiments::detail {

using nlohmann::json;
namespace fs = std::filesystem;

void run_sweeps(const ReproduceOptions& o, const std::vector<Plan>& plans, bool root,
                const std::function<void(const std::string&)>& log) {
  for (const Plan& p : plans) {
    if (root) log("sweep " + p.name + ": " + p.path);
    SweepOptions so;
    so.plan_path = p.path;
    so.out_dir = sweep_dir(o, p);
    so.jobs = o.jobs;
    so.threads = o.threads;
    so.worker = o.worker;
    run_sweep(so, o.mpi);
  }
}

// {cases}, {seeds:PLAN}, {conditions:PLAN} and {command:PLAN} in a claim's texts.
std::string expand(std::string text, const Sweeps& sw, int exact_cases, const std::string& where) {
  std::string out;
  std::size_t at = 0;
  while (true) {
    const std::size_t open = text.find('{', at);
    if (open == std::string::npos) break;
    const std::size_t close = text.find('}', open);
    if (close == std::string::npos) throw ConfigError(where + ": an unclosed '{' in \"" + text + "\"");
    out += text.substr(at, open - at);
    const std::string key = text.substr(open + 1, close - open - 1);
    const std::size_t colon = key.find(':');
    const std::string what = key.substr(0, colon), plan = colon == std::string::npos ? "" : key.substr(colon + 1);
    if (key == "cases") out += std::to_string(exact_cases);
    else if (what == "seeds" && !plan.empty()) out += sw.seeds(plan);
    else if (what == "conditions" && !plan.empty()) out += sw.conditions(plan);
    else if (what == "command" && !plan.empty()) out += sw.command(plan);
    else
      throw ConfigError(where + ": {" + key + "} is not a placeholder (allowed: {cases}, {seeds:PLAN}, {conditions:PLAN}, {command:PLAN})");
    at = close + 1;
  }
  return out + text.substr(at);
}

// One row per claim of claims.json, in its order.
std::vector<ClaimRow> claim_rows(const ClaimsFile& file, const ExactEvidence& exact, const Sweeps& sw, int exact_cases) {
  const std::map<std::string, const proofs::ProofReport*> reports = {
      {"no_mask", &exact.no_mask}, {"causal1", &exact.causal1}, {"causal2", &exact.causal2}, {"learned", &exact.learned}};
  std::vector<ClaimRow> rows;
  for (const ClaimSpec& c : file.claims) {
    const std::string where = file.path + ": claim " + c.id;
    ClaimRow r;
    r.id = c.id;
    r.kind = c.kind;
    if (!c.plan.empty() && !sw.has(c.plan)) {  // a follow-up plan this scale does not have
      r.claim = c.statement;
      r.source = file.sources.at(c.source);
      r.ran = "the " + c.plan + " plan, which exists at the default scale only (experiments/plans/" + c.plan + ".json)";
      r.measurement = "not run at this scale";
      r.commands = {"symbreak reproduce --verify"};
      rows.push_back(std::move(r));
      continue;
    }
    r.claim = expand(c.statement, sw, exact_cases, where);
    r.source = file.sources.at(c.source);
    r.ran = expand(c.ran, sw, exact_cases, where);
    for (const std::string& cmd : c.commands) r.commands.push_back(expand(cmd, sw, exact_cases, where));
    if (!c.plan.empty()) {
      const ClaimVerdict* v = sw.verdict(c.plan + "/" + c.rule);
      if (!v) throw ConfigError(where + ": the " + c.plan + " plan has no decision rule \"" + c.rule + "\"");
      r.verdict = v->verdict;
      r.measurement = v->measurement;
      if (r.verdict == Verdict::not_run && !c.restated_by.empty()) {
        std::string restated;
        for (const std::string& id : c.restated_by) restated += (restated.empty() ? "" : ", ") + id;
        r.measurement = "the " + c.plan + " plan was not run at this scale; the claim is restated and decided by " + restated;
      }
      r.numbers = to_json(*v);
      rows.push_back(std::move(r));
      continue;
    }
    // Exact evidence: every check has its expected status and every prover report its verdict.
    bool ok = true;
    for (const auto& [name, want] : c.checks) {
      const auto it = exact.checks.find(name);
      if (it == exact.checks.end()) throw ConfigError(where + ": the exact evidence has no property " + name);
      ok = ok && properties::to_string(it->second.status) == want;
      r.measurement += (r.measurement.empty() ? "" : "; ") + check_text(it->second);
      r.numbers["checks"][name] = {{"status", std::string(properties::to_string(it->second.status))},
                                   {"cases", it->second.cases},
                                   {"evidence", properties::evidence(it->second)}};
    }
    for (const auto& [name, want] : c.prover) {
      const proofs::ProofReport& report = *reports.at(name);
      ok = ok && proofs::to_string(report.last().verdict) == want;
      r.measurement += "; prover: " + prover_text(report);
      r.numbers["prover"].push_back(prover_text(report));
    }
    r.verdict = ok ? Verdict::reproduced : Verdict::not_reproduced;
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace symbreak::experiments::detail
