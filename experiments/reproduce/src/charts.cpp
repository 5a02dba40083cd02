// The figures behind each claim's verdict, drawn from the sweeps' numbers.
#include <filesystem>
#include <optional>

#include "internal.hpp"
#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/figure.hpp"
#include "symbreak/io.hpp"
#include "symbreak/text.hpp"

namespace symbreak::experiments::detail {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- figures built from the sweeps' numbers -------------------------------------------------------

ReportFigure drawn(const Figure& f, const std::string& alt, std::string note = "") {
  ReportFigure r;
  r.svg = f.svg();
  r.alt = alt;
  r.note = std::move(note);
  return r;
}

// A figure the sweep wrote (convergence, curves, Pearson grids).
ReportFigure from_file(const std::string& path) {
  ReportFigure r;
  if (fs::exists(path)) {
    r.svg = read_file(path);
    r.alt = fs::path(path).filename().string();
  } else {
    r.missing = path;
  }
  return r;
}

// Bars of an interval-valued quantity per ablation, from a C6 verdict's numbers.
std::optional<ReportFigure> delta_chart(const ClaimVerdict& v, const char* key, const std::string& title, const std::string& y_label) {
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
  if (b.categories.empty()) return std::nullopt;
  const double pad = 0.1 * std::max(1e-9, hi - lo);
  b.y_min = lo - pad;
  b.y_max = hi + pad;
  b.reference_lines = {{0.0, "0"}};
  return drawn(bar_chart(b), b.title);
}

// Position-probe accuracy per layer, mean over seeds, per condition of a sweep.
std::optional<ReportFigure> position_chart(const Plan& plan, const std::string& dir) {
  LineChart c;
  c.title = "Linear position probe per layer (" + plan.name + ", mean over seeds)";
  c.x_label = "layer (0 = embedding)";
  c.y_label = "held-out accuracy";
  if (!fs::exists(dir + "/ledger.sqlite")) return std::nullopt;
  const auto runs = Ledger(dir + "/ledger.sqlite", true).runs();
  for (const auto& cond : plan.conditions) {
    std::vector<std::vector<double>> per_layer;
    for (const auto& r : runs) {
      if (r.condition != cond.name || r.status != RunStatus::done) continue;
      const auto a = load_analysis(dir + "/runs/" + r.run_id + "/analysis", /*with_pearson=*/false);
      if (!a) continue;
      per_layer.resize(std::max(per_layer.size(), a->position_probe.size()));
      for (std::size_t l = 0; l < a->position_probe.size(); ++l) per_layer[l].push_back(a->position_probe[l].accuracy);
    }
    if (per_layer.empty()) continue;
    LineChart::Series s{cond.name, {}, {}};
    for (std::size_t l = 0; l < per_layer.size(); ++l) {
      s.x.push_back(static_cast<double>(l));
      s.y.push_back(mean(per_layer[l]));
    }
    c.series.push_back(s);
  }
  if (c.series.empty()) return std::nullopt;
  return drawn(line_chart(c), c.title);
}

// Median steps to converge per condition with the budget marked (B3).
std::optional<ReportFigure> steps_chart(const Plan& plan, const std::string& dir) {
  if (!fs::exists(dir + "/ledger.sqlite")) return std::nullopt;
  const auto runs = Ledger(dir + "/ledger.sqlite", true).runs();
  BarChart b;
  b.title = "Steps to 99 % test exact match, median over seeds (never = budget)";
  b.x_label = "optimizer - biases";
  b.y_label = "steps (median)";
  b.y_min = 0;
  for (const auto& c : plan.conditions) {
    std::vector<double> s;
    for (const auto& r : runs)
      if (r.condition == c.name && r.status == RunStatus::done) s.push_back(r.first_step_converged ? *r.first_step_converged : c.steps);
    if (s.empty()) continue;
    std::sort(s.begin(), s.end());
    b.categories.push_back(c.name);
    b.values.push_back(median(s));
    b.lo.push_back(s.front());
    b.hi.push_back(s.back());
    b.y_max = std::max(b.y_max, static_cast<double>(c.steps) * 1.05);
  }
  b.reference_lines = {{static_cast<double>(plan.conditions.front().steps), "budget"}};
  if (b.categories.empty()) return std::nullopt;
  return drawn(bar_chart(b), b.title, "Whiskers: the fastest and slowest seed.");
}

}  // namespace

std::vector<ProverMapRow> prover_map(const ExactEvidence& exact) {
  std::vector<ProverMapRow> rows;
  for (const auto& c : exact.map)
    rows.push_back({std::string(to_string(c.pe)), std::string(to_string(c.mask)), c.residual ? "on" : "off",
                    std::string(proofs::to_string(c.report.last().verdict)), c.depth});
  return rows;
}

std::vector<ReportFigure> claim_figures(const Sweeps& sw) {
  std::vector<ReportFigure> figures;
  const auto add = [&](const std::string& claim, std::optional<ReportFigure> f) {
    if (!f) return;
    f->claim = claim;
    figures.push_back(std::move(*f));
  };
  for (const char* file : {"/convergence.svg", "/curves.svg"}) add("A4", from_file(sw.dir("symmetry") + file));
  for (const char* file : {"/convergence.svg", "/curves.svg"}) add("A6", from_file(sw.dir("residual") + file));
  for (const char* file : {"/pearson.svg", "/pearson-init.svg"}) add("A7", from_file(sw.dir("residual") + file));
  if (const ClaimVerdict* v = sw.verdict("residual/C6")) {
    add("A7", delta_chart(*v, "delta_D", "ΔD = D(intact) − D(ablated), trained (paired Student t 95 %)", "ΔD (CKA diagonality index)"));
    add("A7", delta_chart(*v, "delta_D_trained_minus_init", "ΔD trained − ΔD untrained (paired Student t 95 %)", "ΔD_trained − ΔD_init"));
    add("A7", delta_chart(*v, "retention_drop", "Own-token retention, intact − ablated (paired Student t 95 %)", "retention drop"));
  }
  add("B3", steps_chart(sw.plan("biases"), sw.dir("biases")));
  add("B3", from_file(sw.dir("biases") + "/curves.svg"));
  for (const char* file : {"/convergence.svg", "/curves.svg"}) add("X1", from_file(sw.dir("depth") + file));
  add("X2", position_chart(sw.plan("symmetry"), sw.dir("symmetry")));
  add("X2", position_chart(sw.plan("residual"), sw.dir("residual")));
  return figures;
}

}  // namespace symbreak::experiments::detail
