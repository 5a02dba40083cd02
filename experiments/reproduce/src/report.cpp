// report.html from experiments/reproduce/report.html.mustache (built into the binary).
#include <algorithm>
#include <kainjow/mustache.hpp>

#include "internal.hpp"
#include "symbreak/experiments/figure.hpp"
#include "symbreak/reproduce/report_template.hpp"
#include "symbreak/text.hpp"

namespace symbreak::experiments {

using nlohmann::json;

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
  d.set("verified", in.verification ? Data::type::bool_true : Data::type::bool_false);
  if (in.verification) {
    Data rows = list();
    int passed = 0;
    for (const VerifyRow& v : *in.verification) {
      Data row;
      row.set("sweep", v.sweep);
      row.set("what", v.what);
      row.set("result", v.status);
      row.set("result_class", v.status == "identical" || v.status == "within tolerance" ? "reproduced"
                              : v.ok                                                     ? "inconclusive"
                                                                                         : "not-reproduced");
      row.set("detail", v.detail);
      rows.push_back(row);
      passed += v.ok;
    }
    d.set("verification", rows);
    d.set("verify_passed", std::to_string(passed));
    d.set("verify_total", std::to_string(in.verification->size()));
  }
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
    // Each figure is its own SVG document inside an <img> (cairo's glyph ids repeat from one SVG to
    // the next, so two inlined into one page would draw each other's letters).
    Data figures = list();
    for (const ReportFigure& f : in.figures) {
      if (f.claim != c.id) continue;
      Data fig;
      fig.set("drawn", f.missing.empty() ? Data::type::bool_true : Data::type::bool_false);
      fig.set("svg_base64", f.missing.empty() ? base64(f.svg) : "");
      fig.set("alt", f.alt);
      fig.set("missing", f.missing);
      fig.set("has_note", f.note.empty() ? Data::type::bool_false : Data::type::bool_true);
      fig.set("note", f.note);
      figures.push_back(fig);
    }
    sec.set("figures", figures);
    Data map = list();
    if (c.id == "A1")
      for (const ProverMapRow& m : in.prover_map) {
        Data row;
        row.set("pe", m.pe);
        row.set("mask", m.mask);
        row.set("depth", std::to_string(m.depth));
        row.set("residual", m.residual);
        row.set("verdict", m.verdict);
        map.push_back(row);
      }
    sec.set("has_map", map.is_empty_list() ? Data::type::bool_false : Data::type::bool_true);
    sec.set("map", map);
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
