#include "symbreak/validate/report.hpp"


#include <fmt/format.h>
#include <kainjow/mustache.hpp>

#include <ctime>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "symbreak/junit.hpp"
#include "symbreak/text.hpp"
#include "symbreak/validate/report_template.hpp"  // generated from validate/report.html.mustache

namespace symbreak::validate {
namespace {

using text::pad;
using text::sci;

std::string error_text(const OpVerdict& v) {
  if (v.status == VerdictStatus::not_applicable || v.status == VerdictStatus::not_run) return "-";
  if (v.worst_bound <= 0 && v.worst_error <= 0) return v.status == VerdictStatus::fail ? "-" : "0";
  return sci(v.worst_error) + (v.status == VerdictStatus::fail && v.worst_error > v.worst_bound ? " > " : " ≤ ") +
         sci(v.worst_bound);
}

std::string status_text(const OpVerdict& v) { return std::string(to_string(v.status)); }

std::string detail(const OpVerdict& v) {
  if (v.status == VerdictStatus::fail) return v.message + (v.element.batch >= 0 ? " at " + v.element.text() : "");
  if (!v.message.empty()) return v.message;
  return "modes " + v.region + (v.element.batch >= 0 ? "; worst at " + v.element.text() : "");
}

std::string skipped_text(const OpVerdict& v) {
  std::string s;
  for (const auto& k : v.skipped) s += (s.empty() ? "" : "; ") + k;
  return s;
}

}  // namespace

void print_report(std::ostream& out, const OpReport& r) {
  out << "region: " << r.capabilities << "\n\n";
  out << pad("property", 21) << pad("cases", 7) << pad("verdict", 9) << pad("worst error vs bound", 24) << "detail\n";
  for (const OpVerdict& v : r.verdicts) {
    out << pad(v.property, 21) << pad(std::to_string(v.cases), 7) << pad(status_text(v), 9) << pad(error_text(v), 24) << detail(v)
        << '\n';
    if (!v.skipped.empty() && v.status != VerdictStatus::not_applicable)
      out << pad("", 61) << "skipped: " << skipped_text(v) << '\n';
  }
  for (const OpVerdict& v : r.verdicts) {
    if (v.status != VerdictStatus::fail) continue;
    out << "\n" << v.property << " FAILED on " << v.shape << "\n  " << v.message << "\n";
    if (!v.counterexample_dir.empty()) out << "  case saved in " << v.counterexample_dir << "\n";
    out << "  replay: " << v.replay << "\n";
  }
  out << fmt::format("\n{}: {} in {:.1f} s (seed {})\n", r.kernel, r.passed() ? "all properties pass" : "FAILED", r.seconds, r.seed);
}

void print_seeds_summary(std::ostream& out, const std::string& kernel, const SeedsReport& seeds) {
  const std::size_t total = seeds.runs.size();
  out << "\n" << kernel << ": " << seeds.seeds_passed() << " of " << total << " seeds pass\n\n";
  out << pad("property", 21) << "failed on\n";
  for (const auto& [property, failed] : seeds.failures_by_property)
    out << pad(property, 21) << failed << " of " << total << " seeds\n";
  out << (seeds.first_failure ? "\nthe first failing seed:\n" : "\nthe last seed:\n");
  print_report(out, seeds.shown());
}

std::string report_json(const OpReport& r) {
  nlohmann::json j;
  j["kernel"] = r.kernel;
  j["capabilities"] = r.capabilities;
  j["seed"] = r.seed;
  j["passed"] = r.passed();
  j["seconds"] = r.seconds;
  j["verdicts"] = nlohmann::json::array();
  for (const OpVerdict& v : r.verdicts)
    j["verdicts"].push_back({{"property", v.property},
                             {"status", status_text(v)},
                             {"cases", v.cases},
                             {"modes", v.region},
                             {"skipped", v.skipped},
                             {"worst_error", v.worst_error},
                             {"worst_bound", v.worst_bound},
                             {"element",
                              {{"tensor", v.element.tensor},
                               {"batch", v.element.batch},
                               {"head", v.element.head},
                               {"row", v.element.row},
                               {"column", v.element.col}}},
                             {"message", v.message},
                             {"inherited_from", v.inherited_from},
                             {"shape", v.shape},
                             {"counterexample_dir", v.counterexample_dir},
                             {"replay", v.replay},
                             {"seconds", v.seconds}});
  return j.dump(2);
}

std::string report_junit(const OpReport& r) {
  junit::TestSuite suite;
  suite.name = "symbreak.validate." + r.kernel;
  suite.seconds = r.seconds;
  for (const OpVerdict& v : r.verdicts) {
    junit::TestCase c;
    c.name = v.property;
    c.classname = suite.name;
    c.seconds = v.seconds;
    if (v.status == VerdictStatus::fail) {
      c.outcome = junit::Outcome::failure;
      c.type = "FAIL";
      c.message = v.message;
      c.detail = v.message + " at " + v.element.text() + " on " + v.shape + "\nreplay: " + v.replay;
    } else if (v.status == VerdictStatus::not_applicable || v.status == VerdictStatus::not_run) {
      c.outcome = junit::Outcome::skipped;
      c.message = v.message;
    }
    c.system_out = std::to_string(v.cases) + " cases in modes " + v.region + "; worst error " + error_text(v) +
                   (v.skipped.empty() ? "" : "; skipped: " + skipped_text(v));
    suite.cases.push_back(std::move(c));
  }
  return junit::document("symbreak validate", suite);
}

std::string report_html(const OpReport& r) {
  using Data = kainjow::mustache::data;
  kainjow::mustache::mustache page{std::string(kReportTemplate)};
  if (!page.is_valid()) throw std::logic_error("validate report template: " + page.error_message());
  Data d;
  d.set("kernel", r.kernel);
  d.set("passed", r.passed() ? Data::type::bool_true : Data::type::bool_false);
  d.set("seed", std::to_string(r.seed));
  d.set("region", r.capabilities);
  Data verdicts(Data::type::list);
  for (const OpVerdict& v : r.verdicts) {
    const bool not_run = v.status == VerdictStatus::not_applicable || v.status == VerdictStatus::not_run;
    Data row;
    row.set("property", v.property);
    row.set("cases", std::to_string(v.cases));
    row.set("class", not_run ? "na" : status_text(v));
    row.set("status", status_text(v));
    row.set("error", error_text(v));
    row.set("detail", detail(v));
    if (!v.replay.empty() && v.status == VerdictStatus::fail) row.set("replay", v.replay);
    else row.set("replay", Data::type::bool_false);
    row.set("skipped", skipped_text(v));
    verdicts.push_back(row);
  }
  d.set("verdicts", verdicts);
  return page.render(d);
}

}  // namespace symbreak::validate
