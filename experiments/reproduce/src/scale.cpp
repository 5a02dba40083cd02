// The plans of a scale, their time estimates and provenance, the environment, and the first screen.
#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "internal.hpp"
#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"
#include "symbreak/reproduce/git_commit.hpp"  // generated at build time

// OpenBLAS chooses its kernels at run time (OPENBLAS_CORETYPE overrides); the report records which.
extern "C" char* openblas_get_corename(void);

#ifndef SYMBREAK_SOURCE_DIR
#define SYMBREAK_SOURCE_DIR "."
#endif
#ifndef SYMBREAK_VERSION
#define SYMBREAK_VERSION "unknown"
#endif
#ifndef SYMBREAK_ARCH_FLAGS
#define SYMBREAK_ARCH_FLAGS "unknown"
#endif

namespace symbreak::experiments::detail {

using nlohmann::json;
namespace fs = std::filesystem;

std::string minutes(double m) {
  if (m >= 90) return fmt::format("{:.1f} hours", m / 60);
  if (m <= 0) return "nothing left to run";
  if (m < 0.75) return fmt::format("{:.0f} seconds", std::max(5.0, std::round(m * 12) * 5));
  if (m < 1.5) return "1 minute";
  return fmt::format("{:.0f} minutes", m);
}

static std::string first_line(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  return "";
}

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
  if (o.verify) {
    if (o.scale != "standard") throw ConfigError("--verify checks the default-scale sweeps; it does not go with --quick or --full");
    s.exact_cases = 40;  // the exact evidence is re-derived, as at the quick scale
  }
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

std::vector<std::string> plans_at(const std::string& dir) {
  std::vector<std::string> names = kPlans;
  for (const std::string& f : kFollowUpPlans)
    if (fs::exists(dir + "/" + f + ".json")) names.push_back(f);
  return names;
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
  // The other plans of the directory (follow-ups, the shipped configs) may be listed too; each entry
  // must name a plan file there.
  const json listed = root.value("plans", json::object());
  for (const auto& [name, value] : listed.items()) {
    if (std::find(kPlans.begin(), kPlans.end(), name) != kPlans.end()) continue;
    if (!fs::exists(dir + "/" + name + ".json")) plans.fail(name, "names no plan file (" + dir + "/" + name + ".json)");
    const std::string text = plans.string(name, "");
    if (text.empty()) plans.fail(name, "must say when the plan's rules were fixed");
    out.emplace_back(name, dir + "/" + name + ".json", text);
  }
  plans.finish();
  top.finish();
  return out;
}

// --verify reads the committed sweeps and runs none; otherwise the sweeps live under --out.
std::string plan_kind(const Plan& p) { return fs::path(p.path).stem().string(); }

std::string sweep_dir(const ReproduceOptions& o, const Plan& p) {
  return o.verify ? o.committed_sweeps + "/" + plan_kind(p) : o.out_dir + "/sweeps/" + p.name;
}

// Runs still to do in a plan's sweep directory (all of them when it has not started).
int runs_left(const Plan& plan, const std::string& dir) {
  int total = 0;
  for (const auto& c : plan.conditions) (void)c, total += static_cast<int>(plan.seeds.size());
  if (!fs::exists(dir + "/ledger.sqlite")) return total;
  int done = 0;
  for (const auto& r : Ledger(dir + "/ledger.sqlite", true).runs()) done += r.status == RunStatus::done;
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
          {"arch_flags", SYMBREAK_ARCH_FLAGS},
          {"blas_kernels", std::string("OpenBLAS ") + openblas_get_corename()},
          {"date", date},
          {"machine", first_line("/proc/cpuinfo", "model name\t: ")},
          {"cores", static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))},
          {"memory_gib", static_cast<double>(pages) * page / (1024.0 * 1024 * 1024)},
          {"os", os + " (" + u.sysname + " " + u.release + ")"},
          {"scale", o.verify ? o.scale + " (verified from the committed sweeps)" : o.scale},
          {"jobs", o.jobs},
          {"command", o.command_line},
          {"wall_seconds", wall}};
}

// The exact checks took 6 s with 40 models per property on the 2-core machine (2026-12-02); the
// prover's part does not grow with the case count, so this overestimates larger counts a little.
double exact_minutes(int cases) { return 0.15 * cases / 60; }

}  // namespace symbreak::experiments::detail

namespace symbreak::experiments {

using namespace detail;

std::string committed_sweeps_dir() { return source_file("experiments/results/sweeps"); }

std::string reproduce_preview(const ReproduceOptions& o) {
  const Scale s = resolve(o);
  std::ostringstream out;
  if (o.verify) {
    out << "symbreak reproduce --verify: the claims of Paper A (arXiv 2402.05969) and Paper B (arXiv 2601.22257), decided\n"
        << "from the committed default-scale sweeps (" << o.committed_sweeps << "), into " << o.out_dir
        << "/report.html and claims.json. What will run:\n\n"
        << "  exact           the property catalogue in Exact arithmetic (10 properties x " << s.exact_cases
        << " models) and the symbolic prover: about " << minutes(exact_minutes(s.exact_cases)) << "\n";
    int replays = 0;
    for (const std::string& name : committed_sweeps(o, s.dir)) {
      const Plan p = load_plan(s.dir + "/" + name + ".json");
      replays += static_cast<int>(p.conditions.size());
      out << "  " << std::left << std::setw(15) << name << " results.md recomputed from the ledger; " << p.conditions.size()
          << " runs (one seed per condition) retrained to their first evaluation\n";
    }
    out << "\nNo sweep runs: the verdicts are the committed ledgers' (" << replays
        << " short retrainings check that this machine reproduces them).\n";
    return out.str();
  }
  out << "symbreak reproduce (" << o.scale << "): the claims of Paper A (arXiv 2402.05969) and Paper B (arXiv 2601.22257)\n"
      << "into " << o.out_dir << "/report.html and claims.json. What will run:\n\n"
      << "  exact           the property catalogue in Exact arithmetic (10 properties x " << s.exact_cases
      << " models) and the symbolic prover (4 architectures, the 36-cell map): about " << minutes(exact_minutes(s.exact_cases))
      << "\n";
  double total = exact_minutes(s.exact_cases);
  bool unknown = false;
  const auto estimates = load_estimates(s.dir);
  for (const auto& name : plans_at(s.dir)) {
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
    out << fmt::format("  {:<15} {} conditions x {} seeds ({} runs, {} still to run){}: {}{}\n", p.name, p.conditions.size(),
                       p.seeds.size(), total_runs, left, p.seeds_if_mixed.empty() ? "" : ", more seeds where mixed",
                       no_estimate || est <= 0 ? "" : "about ",
                       no_estimate ? "time unknown (no estimate_minutes in the plan or estimates.json)" : minutes(est));
  }
  out << "\nEstimated total: " << (unknown ? "at least " : "about ") << minutes(total)
      << " (measured with --jobs 2 on a 2-core machine; more cores are"
      << " faster with more --jobs). Finished runs are reused with --resume.\n";
  return out.str();
}

}  // namespace symbreak::experiments
