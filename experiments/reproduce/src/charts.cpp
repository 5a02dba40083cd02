// The figures behind each claim's verdict, drawn from the sweeps' numbers.
#include <filesystem>

#include "internal.hpp"
#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/figure.hpp"
#include "symbreak/io.hpp"
#include "symbreak/text.hpp"

namespace symbreak::experiments::detail {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const auto html_escape = text::escape_markup;

// ---- figures built from the sweeps' numbers -------------------------------------------------------

// Each figure is its own SVG document inside an <img> (cairo's glyph ids repeat from one SVG to the
// next, so two inlined into one page would draw each other's letters).
std::string svg_image(const std::string& svg, const std::string& alt) {
  return "<div class=\"figure\"><img alt=\"" + html_escape(alt) + "\" src=\"data:image/svg+xml;base64," + base64(svg) +
         "\"></div>";
}

std::string inline_svg(const std::string& path) {
  if (!fs::exists(path)) return "<p class=\"missing\">(figure not available: " + html_escape(path) + ")</p>";
  return svg_image(read_file(path), fs::path(path).filename().string());
}

std::string figure_svg(const Figure& f, const std::string& alt) { return svg_image(f.svg(), alt); }

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
  return figure_svg(bar_chart(b), b.title);
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
  return c.series.empty() ? "" : figure_svg(line_chart(c), c.title);
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
  return b.categories.empty() ? "" : figure_svg(bar_chart(b), b.title) + "<p class=\"note\">Whiskers: the fastest and slowest seed.</p>";
}

}  // namespace

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
    a7 += delta_chart(*v, "delta_D", "ΔD = D(intact) − D(ablated), trained (paired Student t 95 %)", "ΔD (CKA diagonality index)");
    a7 += delta_chart(*v, "delta_D_trained_minus_init", "ΔD trained − ΔD untrained (paired Student t 95 %)", "ΔD_trained − ΔD_init");
    a7 += delta_chart(*v, "retention_drop", "Own-token retention, intact − ablated (paired Student t 95 %)", "retention drop");
  }
  sections.push_back({"A7", a7});
  sections.push_back({"B3", steps_chart(sw.plan("biases"), sw.dir("biases")) + inline_svg(sw.dir("biases") + "/curves.svg")});
  sections.push_back({"X1", inline_svg(sw.dir("depth") + "/convergence.svg") + inline_svg(sw.dir("depth") + "/curves.svg")});
  sections.push_back(
      {"X2", position_chart(sw.plan("symmetry"), sw.dir("symmetry")) + position_chart(sw.plan("residual"), sw.dir("residual"))});

  return sections;
}

}  // namespace symbreak::experiments::detail
