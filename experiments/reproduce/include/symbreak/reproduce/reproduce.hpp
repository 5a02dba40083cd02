// symbreak reproduce: every claim of Paper A (Zuo & Guerzhoy 2024, arXiv 2402.05969) and Paper B
// (Silverstein et al. 2026, arXiv 2601.22257), and two of our own, turned into a verdict with its
// measurement and uncertainty, in one self-contained HTML report (DIR/report.html) and DIR/claims.json.
//
// The evidence comes from three places:
//   exact     the property catalogue in Exact arithmetic and the symbolic prover (A1-A3, B1, B2);
//   sweeps    trainings and analyses run by `symbreak sweep` from the plan files (A4-A7, B3, B4, X1, X2),
//             whose decision rules were fixed before the runs (verdicts.hpp);
//   theorems  the exact Bayes ceiling of position-blind predictors (T7; experiments/ceilings).
// Every sweep resumes: rerunning reuses every finished run.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "symbreak/experiments/sweep.hpp"
#include "symbreak/reproduce/claims.hpp"
#include "symbreak/experiments/verdicts.hpp"

namespace symbreak::experiments {

struct ReproduceOptions {
  std::string scale = "quick";  // quick | standard | full: which plans (plans_dir/<scale>/ or plans_dir)
  std::string plans_dir;        // where the plan files are; default: experiments/plans under the source tree
  std::string out_dir;
  int jobs = 2;
  std::optional<int> threads;
  bool resume = false;       // reuse DIR's finished runs (otherwise DIR must be new or empty)
  bool verify = false;       // decide from the committed default-scale sweeps, run none, retrain a sample
  std::string committed_sweeps;  // --verify: where they are (default experiments/results/sweeps)
  int exact_cases = 0;       // models per exact property (0: by scale)
  std::string worker;        // the symbreak executable for the sweeps
  std::string claims_file;   // default: experiments/claims.json of the source tree
  std::string command_line;  // how this reproduction was started (recorded in the report)
  MpiSession* mpi = nullptr;
};

// One row of the claims table.
struct ClaimRow {
  std::string id, claim, source, ran, measurement, evidence;
  ClaimKind kind = ClaimKind::empirical;
  Verdict verdict = Verdict::not_run;
  std::vector<std::string> commands;  // to rerun this piece
  nlohmann::json numbers;
};

// One check of --verify: a committed sweep's tables, or one of its runs retrained on this machine.
struct VerifyRow {
  std::string sweep, what, detail, command;
  std::string status;  // identical | within tolerance | older engine | other ISA build | differs | failed
  bool ok = false;     // everything but "differs" and "failed"
};

// experiments/results/sweeps of the source tree (from the working directory when run there).
std::string committed_sweeps_dir();

// What will run, with a time estimate (the first screen), before anything runs.
std::string reproduce_preview(const ReproduceOptions& options);

struct ReproduceResult {
  std::vector<ClaimRow> claims;
  std::vector<VerifyRow> verification;  // --verify
  double wall_seconds = 0;
  std::string report, claims_json;  // the paths written
};

// Runs everything (resuming finished work), then writes DIR/report.html and DIR/claims.json.
// `log` receives progress lines. Throws ConfigError for bad options (unknown scale, missing plans, a
// non-empty DIR without --resume).
ReproduceResult reproduce(const ReproduceOptions& options, const std::function<void(const std::string&)>& log);

// The report (used by reproduce; exposed for tests): a table per kind of claim, then each claim's
// section with its checks, figures and commands, rendered from report.html.mustache.
// One figure in a claim's section: an SVG document drawn by cairo (shown as an image) with an
// optional note under it, or the path of a figure file that is not available.
struct ReportFigure {
  std::string claim;  // the claim whose section shows it
  std::string svg, alt, note;
  std::string missing;  // set instead of svg when the figure's file does not exist
};
// One cell of the prover's map of the last position (claim A1's section).
struct ProverMapRow {
  std::string pe, mask, residual, verdict;
  int depth = 0;
};
struct ReportInput {
  const std::vector<ClaimRow>& claims;
  const nlohmann::json& environment;
  const std::vector<ReportFigure>& figures;
  const std::vector<ProverMapRow>& prover_map;
  const std::vector<std::pair<ClaimKind, std::string>>& kinds;       // each kind's description, in order
  std::vector<std::tuple<std::string, std::string, std::string>> provenance;  // (plan, path, when its rules were fixed)
  bool indicative = false;  // quick scale: the empirical verdicts are labelled indicative
  const std::vector<VerifyRow>* verification = nullptr;  // --verify
};
std::string report_html(const ReportInput& input);

}  // namespace symbreak::experiments
