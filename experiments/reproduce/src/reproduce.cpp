#include "symbreak/reproduce/reproduce.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <kainjow/mustache.hpp>
#include <tuple>
#include <map>
#include <sstream>

#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/figure.hpp"
#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"
#include "symbreak/reproduce/report_template.hpp"
#include "symbreak/proofs/prover.hpp"
#include "symbreak/properties/report.hpp"
#include "symbreak/properties/runner.hpp"
#include "symbreak/text.hpp"

#ifndef SYMBREAK_SOURCE_DIR
#define SYMBREAK_SOURCE_DIR "."
#endif
#ifndef SYMBREAK_VERSION
#define SYMBREAK_VERSION "unknown"
#endif
#ifndef SYMBREAK_GIT_COMMIT
#define SYMBREAK_GIT_COMMIT "unknown"
#endif

namespace symbreak::experiments {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {


// The plans every scale runs, in order.
const std::vector<std::string> kPlans = {"residual", "depth", "symmetry", "biases"};

const auto html_escape = text::escape_markup;

std::string minutes(double m) {
  char b[32];
  if (m >= 90) std::snprintf(b, sizeof b, "%.1f hours", m / 60);
  else if (m <= 0) std::snprintf(b, sizeof b, "nothing left to run");
  else if (m < 0.75) std::snprintf(b, sizeof b, "%.0f seconds", std::max(5.0, std::round(m * 12) * 5));
  else if (m < 1.5) std::snprintf(b, sizeof b, "1 minute");
  else std::snprintf(b, sizeof b, "%.0f minutes", m);
  return b;
}

std::string first_line(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  return "";
}

struct Scale {
  std::string dir;
  int exact_cases;
};

Scale resolve(const ReproduceOptions& o) {
  std::string base = o.plans_dir;
  if (base.empty())
    base = fs::exists("experiments/plans") ? "experiments/plans" : std::string(SYMBREAK_SOURCE_DIR) + "/experiments/plans";
  Scale s;
  if (o.scale == "quick") s = {base + "/quick", 40};
  else if (o.scale == "standard") s = {base, 100};
  else if (o.scale == "full") s = {base + "/full", 200};
  else throw ConfigError("scale \"" + o.scale + "\" is not known (allowed: quick, standard, full)");
  if (!o.plans_dir.empty() && fs::exists(o.plans_dir + "/residual.json")) s.dir = o.plans_dir;  // a directory of plans itself
  for (const auto& p : kPlans)
    if (!fs::exists(s.dir + "/" + p + ".json"))
      throw ConfigError("--plans: " + s.dir + "/" + p + ".json not found (the " + o.scale +
                        " plans; run from the source tree or pass --plans experiments/plans)");
  if (o.exact_cases > 0) s.exact_cases = o.exact_cases;
  return s;
}

// Minutes per plan from <scale dir>/estimates.json: wall times measured with --jobs 2 on 2 cores,
// kept apart from the plans so that updating an estimate never changes a plan's fingerprint (which
// would orphan its finished runs). A plan's own estimate_minutes wins.
std::map<std::string, double> load_estimates(const std::string& dir) {
  std::map<std::string, double> minutes;
  const std::string path = dir + "/estimates.json";
  if (!fs::exists(path)) return minutes;
  const json j = parse_json_text(read_file(path), path);
  if (!j.is_object()) throw ConfigError(path + ": must be an object {\"basis\", \"minutes\": {plan: minutes}}");
  StrictObject o(j, path, "");
  o.string("basis", "");
  StrictObject per_plan = o.object("minutes");
  for (const auto& name : kPlans)
    if (const double m = per_plan.number(name, 0, 0, 1e7); m > 0) minutes[name] = m;
  per_plan.finish();
  o.finish();
  return minutes;
}

// A file of the source tree (from the working directory when run there, else the configured source).
std::string source_file(const std::string& relative) {
  return fs::exists(relative) ? relative : std::string(SYMBREAK_SOURCE_DIR) + "/" + relative;
}

// <plans dir>/provenance.json: when each plan's rules were fixed, required for every plan.
std::vector<std::tuple<std::string, std::string, std::string>> load_provenance(const std::string& dir) {
  const std::string path = dir + "/provenance.json";
  if (!fs::exists(path)) throw ConfigError(path + ": missing (each plan directory records when its rules were fixed)");
  const json root = parse_json_text(read_file(path), path);
  StrictObject top(root, path, "");
  top.string("description", "");
  StrictObject plans = top.object("plans");
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  for (const std::string& p : kPlans) {
    const std::string text = plans.string(p, "");
    if (text.empty()) plans.fail(p, "is missing: say when the " + p + " plan's rules were fixed");
    out.emplace_back(p, dir + "/" + p + ".json", text);
  }
  plans.finish();
  top.finish();
  return out;
}

std::string sweep_dir(const ReproduceOptions& o, const Plan& p) { return o.out_dir + "/sweeps/" + p.name; }

// Runs still to do in a plan's sweep directory (all of them when it has not started).
int runs_left(const Plan& plan, const std::string& dir) {
  int total = 0;
  for (const auto& c : plan.conditions) (void)c, total += static_cast<int>(plan.seeds.size());
  if (!fs::exists(dir + "/ledger.sqlite")) return total;
  int done = 0;
  for (const auto& r : Ledger(dir + "/ledger.sqlite", true).runs()) done += r.status == "done";
  return std::max(0, total - done);
}

json environment(const ReproduceOptions& o, double wall) {
  utsname u{};
  uname(&u);
  const std::time_t t = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  std::string os = first_line("/etc/os-release", "PRETTY_NAME=");
  if (!os.empty() && os.front() == '"') os = os.substr(1, os.size() - 2);
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return {{"symbreak", SYMBREAK_VERSION},
          {"commit", SYMBREAK_GIT_COMMIT},
          {"compiler", std::string("g++ ") + __VERSION__},
          {"date", date},
          {"machine", first_line("/proc/cpuinfo", "model name\t: ")},
          {"cores", static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))},
          {"memory_gib", static_cast<double>(pages) * page / (1024.0 * 1024 * 1024)},
          {"os", os + " (" + u.sysname + " " + u.release + ")"},
          {"scale", o.scale},
          {"jobs", o.jobs},
          {"command", o.command_line},
          {"wall_seconds", wall}};
}

// ---- exact evidence ------------------------------------------------------------------------------

struct ExactEvidence {
  std::map<std::string, properties::Verdict> checks;
  proofs::ProofReport no_mask, causal2, causal1, learned;
  std::vector<proofs::ProofMapCell> map;
  int cases = 0;
};

ModelConfig prover_config(MaskKind mask, PositionalEncoding pe, int layers) {
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
  if (g.witness) {
    char b[96];
    std::snprintf(b, sizeof b, ": exact witness Δ = %.3g (%zu-bit rational)", exact_to_double(Exact(g.witness->exact_difference)),
                  g.witness->exact_bits);
    s += b;
  }
  return s;
}

std::string check_text(const properties::Verdict& v) {
  return v.property + ": " + std::string(properties::to_string(v.status)) + " (" + properties::evidence(v) + ")";
}

// ---- figures built from the sweeps' numbers -------------------------------------------------------

std::string inline_svg(const std::string& path) {
  if (!fs::exists(path)) return "<p class=\"missing\">(figure not available: " + html_escape(path) + ")</p>";
  std::string svg = read_file(path);
  return "<div class=\"figure\">" + svg + "</div>";
}

std::string figure_svg(const Figure& f) { return "<div class=\"figure\">" + f.svg() + "</div>"; }

// Bars of an interval-valued quantity per ablation, from a C6 verdict's numbers.
std::string delta_chart(const ClaimVerdict& v, const char* key, const std::string& title, const std::string& y_label) {
  BarChart b;
  b.title = title;
  b.x_label = "ablation (compared with the reference)";
  b.y_label = y_label;
  double lo = 0, hi = 0;
  for (const auto& [cond, n] : v.numbers.items()) {
    if (!n.contains(key)) continue;
    b.categories.push_back(cond);
    b.values.push_back(n[key][0].get<double>());
    b.lo.push_back(n[key][1].get<double>());
    b.hi.push_back(n[key][2].get<double>());
    lo = std::min(lo, b.lo.back());
    hi = std::max(hi, b.hi.back());
  }
  if (b.categories.empty()) return "";
  const double pad = 0.1 * std::max(1e-9, hi - lo);
  b.y_min = lo - pad;
  b.y_max = hi + pad;
  b.reference_lines = {{0.0, "0"}};
  return figure_svg(bar_chart(b));
}

// Position-probe accuracy per layer, mean over seeds, per condition of a sweep.
std::string position_chart(const Plan& plan, const std::string& dir) {
  LineChart c;
  c.title = "Linear position probe per layer (" + plan.name + ", mean over seeds)";
  c.x_label = "layer (0 = embedding)";
  c.y_label = "held-out accuracy";
  if (!fs::exists(dir + "/ledger.sqlite")) return "";
  const auto runs = Ledger(dir + "/ledger.sqlite", true).runs();
  for (const auto& cond : plan.conditions) {
    std::vector<std::vector<double>> per_layer;
    for (const auto& r : runs) {
      if (r.condition != cond.name || r.status != "done") continue;
      const std::string path = dir + "/runs/" + r.run_id + "/analysis/analysis.json";
      if (!fs::exists(path)) continue;
      const json a = json::parse(read_file(path));
      const auto& p = a["position_probe"];
      per_layer.resize(p.size());
      for (std::size_t l = 0; l < p.size(); ++l) per_layer[l].push_back(p[l]["accuracy"].get<double>());
    }
    if (per_layer.empty()) continue;
    LineChart::Series s{cond.name, {}, {}};
    for (std::size_t l = 0; l < per_layer.size(); ++l) {
      s.x.push_back(static_cast<double>(l));
      s.y.push_back(mean(per_layer[l]));
    }
    c.series.push_back(s);
  }
  return c.series.empty() ? "" : figure_svg(line_chart(c));
}

// Median steps to converge per condition with the budget marked (B3).
std::string steps_chart(const Plan& plan, const std::string& dir) {
  if (!fs::exists(dir + "/ledger.sqlite")) return "";
  const auto runs = Ledger(dir + "/ledger.sqlite", true).runs();
  BarChart b;
  b.title = "Steps to 99 % test exact match, median over seeds (never = budget)";
  b.x_label = "optimizer - biases";
  b.y_label = "steps (median)";
  b.y_min = 0;
  for (const auto& c : plan.conditions) {
    std::vector<double> s;
    for (const auto& r : runs)
      if (r.condition == c.name && r.status == "done") s.push_back(r.first_step_converged ? *r.first_step_converged : c.steps);
    if (s.empty()) continue;
    std::sort(s.begin(), s.end());
    b.categories.push_back(c.name);
    b.values.push_back(median(s));
    b.lo.push_back(s.front());
    b.hi.push_back(s.back());
    b.y_max = std::max(b.y_max, static_cast<double>(c.steps) * 1.05);
  }
  b.reference_lines = {{static_cast<double>(plan.conditions.front().steps), "budget"}};
  return b.categories.empty() ? "" : figure_svg(bar_chart(b)) + "<p class=\"note\">Whiskers: the fastest and slowest seed.</p>";
}

// The exact checks took 6 s with 40 models per property on the 2-core machine (2026-12-02); the
// prover's part does not grow with the case count, so this overestimates larger counts a little.
double exact_minutes(int cases) { return 0.15 * cases / 60; }

}  // namespace

std::string reproduce_preview(const ReproduceOptions& o) {
  const Scale s = resolve(o);
  std::ostringstream out;
  out << "symbreak reproduce (" << o.scale << "): the claims of Paper A (arXiv 2402.05969) and Paper B (arXiv 2601.22257)\n"
      << "into " << o.out_dir << "/report.html and claims.json. What will run:\n\n"
      << "  exact           the property catalogue in Exact arithmetic (10 properties x " << s.exact_cases
      << " models) and the symbolic prover (4 architectures, the 36-cell map): about " << minutes(exact_minutes(s.exact_cases))
      << "\n";
  double total = exact_minutes(s.exact_cases);
  bool unknown = false;
  const auto estimates = load_estimates(s.dir);
  for (const auto& name : kPlans) {
    const Plan p = load_plan(s.dir + "/" + name + ".json");
    const int left = runs_left(p, sweep_dir(o, p));
    int total_runs = 0;
    for (const auto& c : p.conditions) (void)c, total_runs += static_cast<int>(p.seeds.size());
    const auto listed = estimates.find(name);
    const double plan_minutes = p.estimate_minutes > 0 ? p.estimate_minutes : listed != estimates.end() ? listed->second : 0;
    const double est = plan_minutes * (total_runs ? static_cast<double>(left) / total_runs : 0);
    total += est;
    const bool no_estimate = left > 0 && plan_minutes <= 0;
    unknown = unknown || no_estimate;
    char line[256];
    std::snprintf(line, sizeof line, "  %-15s %zu conditions x %zu seeds (%d runs, %d still to run)%s: %s%s\n", p.name.c_str(),
                  p.conditions.size(), p.seeds.size(), total_runs, left,
                  p.seeds_if_mixed.empty() ? "" : ", more seeds where mixed", no_estimate || est <= 0 ? "" : "about ",
                  no_estimate ? "time unknown (no estimate_minutes in the plan or estimates.json)" : minutes(est).c_str());
    out << line;
  }
  out << "\nEstimated total: " << (unknown ? "at least " : "about ") << minutes(total)
      << " (measured with --jobs 2 on a 2-core machine; more cores are"
      << " faster with more --jobs). Finished runs are reused with --resume.\n";
  return out.str();
}

namespace {

// The finished sweeps of one reproduce run, and what the claims need from them.
class Sweeps {
 public:
  Sweeps(const ReproduceOptions& o, std::vector<Plan> plans) : o_(o), plans_(std::move(plans)) {
    for (const Plan& p : plans_)
      for (auto& v : evaluate_plan(p, sweep_dir(o_, p))) verdicts_[short_name(p) + "/" + v.id] = v;
  }
  // "residual" for the plan "residual-quick" (the claims name plans by kind, at any scale).
  static std::string short_name(const Plan& p) { return p.name.substr(0, p.name.find('-')); }
  const Plan& plan(const std::string& kind) const {
    for (const Plan& p : plans_)
      if (short_name(p) == kind) return p;
    throw std::logic_error("reproduce: no " + kind + " plan");
  }
  std::string dir(const std::string& kind) const { return sweep_dir(o_, plan(kind)); }
  std::string command(const std::string& kind) const {
    return "symbreak sweep --plan " + plan(kind).path + " --out " + dir(kind) + " --jobs " + std::to_string(o_.jobs);
  }
  // The verdict of rule `id` of plan `kind` ("residual/C6"), or nullptr when the plan has no such rule.
  const ClaimVerdict* verdict(const std::string& key) const {
    const auto it = verdicts_.find(key);
    return it == verdicts_.end() ? nullptr : &it->second;
  }
  std::string seeds(const std::string& kind) const { return std::to_string(plan(kind).seeds.size()) + " seeds"; }
  // "6 conditions", or their names when there are few ("intact, all-off").
  std::string conditions(const std::string& kind) const {
    const auto& cs = plan(kind).conditions;
    if (cs.size() > 4) return std::to_string(cs.size()) + " conditions";
    std::string names;
    for (const auto& c : cs) names += (names.empty() ? "" : ", ") + c.name;
    return names;
  }

 private:
  const ReproduceOptions& o_;
  std::vector<Plan> plans_;
  std::map<std::string, ClaimVerdict> verdicts_;
};

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
    r.claim = expand(c.statement, sw, exact_cases, where);
    r.source = file.sources.at(c.source);
    r.ran = expand(c.ran, sw, exact_cases, where);
    for (const std::string& cmd : c.commands) r.commands.push_back(expand(cmd, sw, exact_cases, where));
    if (!c.plan.empty()) {
      const ClaimVerdict* v = sw.verdict(c.plan + "/" + c.rule);
      if (!v) throw ConfigError(where + ": the " + c.plan + " plan has no decision rule \"" + c.rule + "\"");
      r.verdict = v->verdict;
      r.measurement = v->measurement;
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

// Per-claim details: the figures and tables behind each verdict.
std::vector<std::pair<std::string, std::string>> claim_sections(const ExactEvidence& exact, const Sweeps& sw) {
  std::vector<std::pair<std::string, std::string>> sections;
  std::string map_table =
      "<table class=\"small\"><tr><th>PE</th><th>mask</th><th>depth</th><th>residual</th><th>prover</th></tr>";
  for (const auto& c : exact.map)
    map_table += "<tr><td>" + std::string(to_string(c.pe)) + "</td><td>" + std::string(to_string(c.mask)) + "</td><td>" +
                 std::to_string(c.depth) + "</td><td>" + (c.residual ? "on" : "off") + "</td><td>" +
                 std::string(proofs::to_string(c.report.last().verdict)) + "</td></tr>";
  map_table += "</table>";
  sections.push_back(
      {"A1", "<p>The prover's map of the last position, for every weight (PE x mask x depth x residuals):</p>" + map_table});
  sections.push_back(
      {"A4", inline_svg(sw.dir("symmetry") + "/convergence.svg") + inline_svg(sw.dir("symmetry") + "/curves.svg")});
  sections.push_back(
      {"A6", inline_svg(sw.dir("residual") + "/convergence.svg") + inline_svg(sw.dir("residual") + "/curves.svg")});
  std::string a7 = inline_svg(sw.dir("residual") + "/pearson.svg") + inline_svg(sw.dir("residual") + "/pearson-init.svg");
  if (const ClaimVerdict* v = sw.verdict("residual/C6")) {
    a7 += delta_chart(*v, "delta_D", "ΔD = D(intact) − D(ablated), trained (bootstrap 95 %)", "ΔD (CKA diagonality index)");
    a7 += delta_chart(*v, "delta_D_trained_minus_init", "ΔD trained − ΔD untrained (bootstrap 95 %)", "ΔD_trained − ΔD_init");
    a7 += delta_chart(*v, "retention_drop", "Own-token retention, intact − ablated (bootstrap 95 %)", "retention drop");
  }
  sections.push_back({"A7", a7});
  sections.push_back({"B3", steps_chart(sw.plan("biases"), sw.dir("biases")) + inline_svg(sw.dir("biases") + "/curves.svg")});
  sections.push_back({"X1", inline_svg(sw.dir("depth") + "/convergence.svg") + inline_svg(sw.dir("depth") + "/curves.svg")});
  sections.push_back(
      {"X2", position_chart(sw.plan("symmetry"), sw.dir("symmetry")) + position_chart(sw.plan("residual"), sw.dir("residual"))});

  return sections;
}

}  // namespace

ReproduceResult reproduce(const ReproduceOptions& o, const std::function<void(const std::string&)>& log) {
  const auto start = std::chrono::steady_clock::now();
  const Scale scale = resolve(o);
  const bool root = !o.mpi || o.mpi->rank() == 0;
  if (root && fs::exists(o.out_dir) && !fs::is_empty(o.out_dir) && !o.resume)
    throw ConfigError("--out " + o.out_dir +
                      ": exists and is not empty; pass --resume to reuse its finished runs, or choose another --out");
  if (root) fs::create_directories(o.out_dir);

  std::vector<Plan> plans;
  for (const auto& name : kPlans) plans.push_back(load_plan(scale.dir + "/" + name + ".json"));
  // The claims and the plans' provenance are read (and refused) before anything runs.
  const ClaimsFile claims = load_claims(o.claims_file.empty() ? source_file("experiments/claims.json") : o.claims_file);
  for (const ClaimSpec& c : claims.claims) {
    if (c.plan.empty()) continue;
    const Plan& p = plans[static_cast<std::size_t>(std::find(kPlans.begin(), kPlans.end(), c.plan) - kPlans.begin())];
    if (!p.decision.is_object() || !p.decision.contains(c.rule))
      throw ConfigError(claims.path + ": claim " + c.id + " names the rule \"" + c.rule + "\", which " + p.path + " does not have");
  }
  auto provenance = load_provenance(scale.dir);
  ExactEvidence exact;
  if (root) exact = exact_evidence(o, scale.exact_cases, log);
  run_sweeps(o, plans, root, log);
  ReproduceResult result;
  if (!root) return result;

  const Sweeps sweeps(o, std::move(plans));
  result.claims = claim_rows(claims, exact, sweeps, scale.exact_cases);
  const auto sections = claim_sections(exact, sweeps);
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const json env = environment(o, result.wall_seconds);
  json claims_json = {{"environment", env}, {"claims", json::array()}};
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
  ReportInput report{result.claims, env, sections, claims.kinds, std::move(provenance), o.scale == "quick"};
  write_file_atomically(result.report, report_html(report));
  return result;
}

namespace {

using Mustache = kainjow::mustache::mustache;
using Data = kainjow::mustache::data;

Data list() { return Data(Data::type::list); }

std::string number_text(const json& k, const char* key) {
  if (!k.contains(key) || k[key].is_null()) return "—";
  return text::shortest(k[key].get<double>());
}

}  // namespace

std::string report_html(const ReportInput& in) {
  Mustache page{std::string(kReportTemplate)};
  if (!page.is_valid()) throw std::logic_error("report template: " + page.error_message());
  Data d;
  d.set("scale", in.environment.value("scale", ""));
  d.set("date", in.environment.value("date", ""));
  d.set("wall_seconds", std::to_string(static_cast<long>(in.environment.value("wall_seconds", 0.0))));
  d.set("indicative", in.indicative ? Data::type::bool_true : Data::type::bool_false);
  Data provenance = list();
  for (const auto& [plan, path, text] : in.provenance) {
    Data row;
    row.set("plan", plan);
    row.set("path", path);
    row.set("text", text);
    provenance.push_back(row);
  }
  d.set("provenance", provenance);
  // One table per kind of claim, in the claims file's order of kinds.
  Data kinds = list();
  for (const auto& [kind, description] : in.kinds) {
    Data rows = list();
    for (const ClaimRow& c : in.claims) {
      if (c.kind != kind) continue;
      std::string cls = to_string(c.verdict);
      std::replace(cls.begin(), cls.end(), ' ', '-');
      Data row;
      row.set("id", c.id);
      row.set("statement", c.claim);
      row.set("source", c.source);
      row.set("ran", c.ran);
      row.set("measurement", c.measurement);
      row.set("verdict", to_string(c.verdict));
      row.set("verdict_class", cls);
      row.set("indicative", in.indicative && kind == ClaimKind::empirical ? Data::type::bool_true : Data::type::bool_false);
      rows.push_back(row);
    }
    if (rows.is_empty_list()) continue;
    Data k;
    k.set("kind", std::string(to_string(kind)));
    k.set("title", kind == ClaimKind::exact            ? "Exact claims: proved or refuted"
                   : kind == ClaimKind::implementation ? "Implementation checks: guaranteed by a theorem"
                                                       : "Empirical claims: decided by the plans' rules");
    k.set("description", description);
    k.set("rows", rows);
    kinds.push_back(k);
  }
  d.set("kinds", kinds);
  Data sections = list();
  for (const ClaimRow& c : in.claims) {
    Data sec;
    sec.set("id", c.id);
    sec.set("statement", c.claim);
    sec.set("verdict", to_string(c.verdict));
    sec.set("measurement", c.measurement);
    Data checks = list();
    if (c.numbers.contains("checks") && c.numbers["checks"].is_array())
      for (const json& k : c.numbers["checks"]) {
        Data row;
        row.set("name", k.value("name", ""));
        row.set("estimate", number_text(k, "estimate"));
        row.set("lo", number_text(k, "lo"));
        row.set("hi", number_text(k, "hi"));
        row.set("threshold", number_text(k, "threshold"));
        row.set("wants", k.value("wants", ""));
        checks.push_back(row);
      }
    sec.set("has_checks", checks.is_empty_list() ? Data::type::bool_false : Data::type::bool_true);
    sec.set("checks", checks);
    std::string figures;
    for (const auto& [id, html] : in.sections)
      if (id == c.id) figures += html + "\n";
    sec.set("figures", figures);
    Data commands = list();
    for (const std::string& cmd : c.commands) commands.push_back(Data(cmd));
    sec.set("commands", commands);
    sec.set("numbers", c.numbers.dump(1));
    sections.push_back(sec);
  }
  d.set("sections", sections);
  Data environment = list();
  for (const auto& [key, value] : in.environment.items()) {
    Data row;
    row.set("key", key);
    row.set("value", value.is_string() ? value.get<std::string>() : value.dump());
    environment.push_back(row);
  }
  d.set("environment", environment);
  return page.render(d);
}

}  // namespace symbreak::experiments
