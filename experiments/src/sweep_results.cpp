// A sweep's results: results.json (summaries, every run, the verdicts), results.md, and the figures
// (convergence rates with Wilson intervals, learning curves, the paper's correlation picture with
// one row per condition).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>

#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/figure.hpp"
#include "symbreak/experiments/stats.hpp"
#include "symbreak/experiments/results.hpp"
#include "symbreak/experiments/sweep.hpp"
#include "symbreak/experiments/trainer.hpp"
#include "symbreak/experiments/verdicts.hpp"
#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"

namespace symbreak::experiments {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// results.json: the summaries, every run, the verdicts and what the sweep's own bookkeeping cost.
json results_json(const Plan& plan, const std::vector<RunRecord>& runs, const std::vector<ConditionSummary>& summaries,
                  const std::vector<ClaimVerdict>& verdicts, const std::optional<std::string>& bookkeeping) {
  json j;
  j["plan"] = plan.name;
  j["plan_file"] = plan.path;
  j["description"] = plan.description;
  j["steps"] = plan.steps;
  j["converged_threshold"] = plan.converged_threshold;
  j["conditions"] = json::array();
  for (const auto& s : summaries)
    j["conditions"].push_back({{"condition", s.condition},
                               {"planned", s.planned},
                               {"done", s.done},
                               {"failed", s.failed},
                               {"converged", s.converged},
                               {"rate", s.done ? json(s.rate) : json(nullptr)},
                               {"wilson95", {s.rate_lo, s.rate_hi}},
                               {"median_steps_converged", optional_json(s.median_steps_converged)},
                               {"median_final_exact", optional_json(s.median_final_exact)}});
  j["runs"] = json::array();
  double train_seconds = 0;
  for (const auto& r : runs) {
    j["runs"].push_back({{"run_id", r.run_id},
                         {"condition", r.condition},
                         {"seed", r.seed},
                         {"status", std::string(to_string(r.status))},
                         {"config_hash", r.config_hash},
                         {"threads", r.threads},
                         {"attempts", r.attempts},
                         {"final_exact", optional_json(r.final_exact)},
                         {"best_exact", optional_json(r.best_exact)},
                         {"first_step_converged", r.first_step_converged ? json(*r.first_step_converged) : json(nullptr)},
                         {"per_digit", r.per_digit},
                         {"wall_seconds", optional_json(r.wall_seconds)},
                         {"started_at", r.started_at},
                         {"ended_at", r.ended_at},
                         {"host", r.host},
                         {"rank", r.rank}});
    train_seconds += r.wall_seconds.value_or(0);
  }
  j["verdicts"] = json::array();
  for (const auto& v : verdicts) j["verdicts"].push_back(to_json(v));
  if (bookkeeping) {
    const double b = std::stod(*bookkeeping);
    j["bookkeeping"] = {{"sweep_cpu_seconds", b},
                        {"training_wall_seconds", train_seconds},
                        {"share", train_seconds > 0 ? json(b / train_seconds) : json(nullptr)}};
  }
  return j;
}

// A median over the values that exist: a collapsed slot's D or retention is NaN (no variance to
// measure), and the median is over the seeds that have it; NaN when none has.
double median_of_defined(const std::vector<double>& values) {
  std::vector<double> defined;
  for (double v : values)
    if (!std::isnan(v)) defined.push_back(v);
  return defined.empty() ? kNaN : median(defined);
}

std::string three_digits(double v) { return std::isnan(v) ? "—" : fmt::format("{:.3g}", v); }

// Per layer, median over a condition's finished seeds, read from the runs' analysis.json files (the
// ones git keeps): D of each pair (l, l+1) trained, untrained and at each planned step, own-token
// retention after each block, and the last stream's position probe. Empty when the plan analyses
// nothing or no analysis is there.
std::string per_layer_markdown(const Plan& plan, const std::vector<RunRecord>& runs, const std::string& out_dir) {
  if (!plan.analysis) return "";
  struct Column {
    std::string heading, subdir;
  };
  std::vector<Column> d_columns{{"D per pair (l→l+1), trained", "analysis"}};
  if (plan.analysis_at_init) d_columns.push_back({"D, untrained", "analysis-init"});
  for (int step : plan.analysis_at_steps)
    d_columns.push_back({fmt::format("D, step {}", step), fmt::format("analysis-step{}", step)});

  // D of the pairs (l, l+1), l = 0..L-1, in order (analysed_pairs also holds (0, L)).
  const auto adjacent_d = [](const RunAnalysis& a) {
    std::vector<double> d(a.model.layers, kNaN);
    for (const auto& pair : a.pairs)
      if (pair.to == pair.from + 1 && pair.from < a.model.layers) d[pair.from] = pair.diagonality_index;
    return d;
  };
  // Element-wise median over seeds of equally long vectors, printed to 3 digits.
  const auto median_row = [](const std::vector<std::vector<double>>& per_seed) {
    if (per_seed.empty()) return std::string("—");
    std::string out;
    for (std::size_t i = 0; i < per_seed.front().size(); ++i) {
      std::vector<double> column;
      for (const auto& seed : per_seed) column.push_back(i < seed.size() ? seed[i] : kNaN);
      out += (i ? " " : "") + three_digits(median_of_defined(column));
    }
    return out;
  };

  std::ostringstream rows;
  for (const auto& c : plan.conditions) {
    std::vector<std::vector<std::vector<double>>> d(d_columns.size());
    std::vector<std::vector<double>> retention;
    std::vector<double> position;
    for (const auto& r : runs) {
      if (r.condition != c.name || r.status != RunStatus::done) continue;
      const std::string run_dir = out_dir + "/runs/" + r.run_id + "/";
      const auto trained = load_analysis(run_dir + "analysis", false);
      if (!trained) continue;
      d[0].push_back(adjacent_d(*trained));
      for (std::size_t k = 1; k < d_columns.size(); ++k)
        if (auto other = load_analysis(run_dir + d_columns[k].subdir, false)) d[k].push_back(adjacent_d(*other));
      std::vector<double> own;
      for (const auto& stream : trained->retention)
        if (stream.layer >= 1) own.push_back(stream.own_token);
      retention.push_back(own);
      position.push_back(trained->position_probe.empty() ? kNaN : trained->position_probe.back().accuracy);
    }
    if (d[0].empty()) continue;
    rows << "| " << c.name << " | " << d[0].size();
    for (const auto& column : d) rows << " | " << median_row(column);
    const double p = median_of_defined(position);
    rows << " | " << median_row(retention) << " | " << (std::isnan(p) ? "—" : fmt::format("{:.3f}", p)) << " |\n";
  }
  if (rows.str().empty()) return "";
  std::ostringstream md;
  md << "\n## Per layer (median over seeds)\n\nD is the CKA diagonality index of the layer pair (l, l+1) (1: no "
        "diagonal structure); retention is the held-out accuracy of a linear probe for the slot's own digit "
        "(chance 0.10); the position probe reads the absolute position from the last stream (chance 1/length). "
        "A collapsed slot has no D or retention, and the median is over the seeds that have one.\n\n"
     << "| condition | seeds |";
  for (const auto& column : d_columns) md << " " << column.heading << " |";
  md << " own-token retention by layer 1..L, trained | position probe, last layer |\n|---|---:|";
  for (std::size_t k = 0; k < d_columns.size(); ++k) md << "---|";
  md << "---|---:|\n" << rows.str();
  return md.str();
}

// results.md: the table a person reads.
std::string results_markdown(const Plan& plan, const std::vector<RunRecord>& runs, const std::vector<ConditionSummary>& summaries,
                             const std::vector<ClaimVerdict>& verdicts, const std::string& per_layer) {
  std::ostringstream md;
  md << "# Sweep `" << plan.name << "`\n\n"
     << plan.description << "\n\nBudget " << (plan.steps ? std::to_string(plan.steps) + " steps" : "per condition")
     << "; converged = test exact match ≥ " << plan.converged_threshold << " at any evaluation.\n\n";
  md << "| condition | runs | converged | rate | Wilson 95 % | median steps to converge | median final exact "
        "|\n|---|---:|---:|---:|---|---:|---:|\n";
  const auto fixed = [](double v, int digits) { return fmt::format("{:.{}f}", v, digits); };
  for (const auto& s : summaries)
    md << fmt::format("| {} | {}/{} | {} | {} | [{:.2f}, {:.2f}] | {} | {} |\n", s.condition, s.done, s.planned, s.converged,
                      s.done ? fixed(s.rate, 2) : "—", s.rate_lo, s.rate_hi,
                      s.median_steps_converged ? std::to_string(static_cast<long>(*s.median_steps_converged)) : "—",
                      s.median_final_exact ? fixed(*s.median_final_exact, 4) : "—");
  if (!verdicts.empty()) {
    md << "\n## Verdicts (decision rules fixed in the plan before the runs)\n\n| claim | verdict | measurement "
          "|\n|---|---|---|\n";
    for (const auto& v : verdicts)
      md << "| " << v.id << ": " << v.statement << " | **" << to_string(v.verdict) << "** | " << v.measurement << " |\n";
  }
  md << per_layer;
  md << "\n## Runs\n\n| run | status | final exact | best | first step ≥ threshold | wall s |\n|---|---|---:|---:|---:|---:|\n";
  for (const auto& r : runs)
    md << fmt::format("| {} | {} | {} | {} | {} | {} |\n", r.run_id, to_string(r.status), r.final_exact ? fixed(*r.final_exact, 4) : "—",
                      r.best_exact ? fixed(*r.best_exact, 4) : "—",
                      r.first_step_converged ? std::to_string(*r.first_step_converged) : "never",
                      r.wall_seconds ? std::to_string(static_cast<long>(*r.wall_seconds)) : "—");
  return md.str();
}

void write_convergence_chart(const Plan& plan, const std::vector<ConditionSummary>& summaries, const std::string& out_dir) {
  BarChart bars;
  bars.title = "Convergence per condition: " + plan.name;
  bars.x_label = "condition";
  bars.y_label = "share of seeds converged (Wilson 95 %)";
  for (const auto& s : summaries) {
    bars.categories.push_back(s.condition + " (" + std::to_string(s.converged) + "/" + std::to_string(s.done) + ")");
    bars.values.push_back(s.done ? s.rate : NAN);
    bars.lo.push_back(s.done ? s.rate_lo : NAN);
    bars.hi.push_back(s.done ? s.rate_hi : NAN);
  }
  bar_chart(bars).save(out_dir + "/convergence");
}

void write_curves_chart(const Plan& plan, const std::vector<RunRecord>& runs, const std::string& out_dir) {
  LineChart lines;
  lines.title = "Test exact match, median over seeds: " + plan.name;
  lines.x_label = "training step";
  lines.y_label = "test exact match (greedy)";
  lines.reference_lines = {{plan.converged_threshold, "converged"}};
  for (const auto& c : plan.conditions) {
    std::map<double, std::vector<double>> by_step;
    for (const auto& r : runs)
      if (r.condition == c.name && r.status == RunStatus::done)
        for (const MetricsRow& row : read_metrics_csv(out_dir + "/runs/" + r.run_id + "/metrics.csv"))
          by_step[row.step].push_back(row.eval.exact_match);
    LineChart::Series s{c.name, {}, {}};
    for (const auto& [step, values] : by_step) {
      s.x.push_back(step);
      s.y.push_back(median(values));
    }
    if (!s.x.empty()) lines.series.push_back(s);
  }
  line_chart(lines).save(out_dir + "/curves");
}

// One seed per condition: the layer-by-layer Pearson grids, trained and (when planned) untrained.
void write_pearson_grids(const Plan& plan, const std::vector<RunRecord>& runs, const std::string& out_dir) {
  if (!plan.analysis) return;
  for (const bool init : {false, true}) {
    if (init && !plan.analysis_at_init) continue;
    std::vector<RunAnalysis> loaded;
    std::vector<std::string> labels;
    for (const auto& c : plan.conditions)
      for (const auto& r : runs)
        if (r.condition == c.name && r.status == RunStatus::done) {
          if (auto a = load_analysis(out_dir + "/runs/" + r.run_id + (init ? "/analysis-init" : "/analysis"))) {
            loaded.push_back(std::move(*a));
            labels.push_back(r.run_id);
          }
          break;  // the first finished seed of each condition
        }
    if (loaded.empty()) continue;  // nothing to draw (a fresh clone): the committed figure stays
    std::vector<const RunAnalysis*> rows;
    for (const auto& a : loaded) rows.push_back(&a);
    write_pearson_grid(
        rows, labels,
        "Pearson correlation between layers, one seed per condition" + std::string(init ? " (untrained)" : " (trained)"),
        out_dir + (init ? "/pearson-init" : "/pearson"));
  }
}

}  // namespace

std::string sweep_markdown(const Plan& plan, const std::string& out_dir) {
  const std::string db = out_dir + "/ledger.sqlite";
  if (!fs::exists(db)) throw ConfigError("--out " + out_dir + ": no ledger (ledger.sqlite) to read");
  const std::vector<RunRecord> runs = Ledger(db, true).runs();
  return results_markdown(plan, runs, summarize(plan, runs), evaluate_plan(plan, out_dir), per_layer_markdown(plan, runs, out_dir));
}

void write_sweep_tables(const Plan& plan, const std::string& out_dir) {
  const std::string db = out_dir + "/ledger.sqlite";
  if (!fs::exists(db)) return;
  std::vector<RunRecord> runs;
  std::optional<std::string> bookkeeping;
  {
    Ledger ledger(db, true);
    runs = ledger.runs();
    bookkeeping = ledger.meta("bookkeeping_cpu_seconds");
  }
  const auto summaries = summarize(plan, runs);
  const auto verdicts = evaluate_plan(plan, out_dir);
  write_file_atomically(out_dir + "/results.json", results_json(plan, runs, summaries, verdicts, bookkeeping).dump(2) + "\n");
  write_file_atomically(out_dir + "/results.md",
                        results_markdown(plan, runs, summaries, verdicts, per_layer_markdown(plan, runs, out_dir)));
}

void write_sweep_results(const Plan& plan, const std::string& out_dir) {
  const std::string db = out_dir + "/ledger.sqlite";
  if (!fs::exists(db)) return;
  write_sweep_tables(plan, out_dir);
  const std::vector<RunRecord> runs = Ledger(db, true).runs();
  write_convergence_chart(plan, summarize(plan, runs), out_dir);
  write_curves_chart(plan, runs, out_dir);
  write_pearson_grids(plan, runs, out_dir);
}

}  // namespace symbreak::experiments
