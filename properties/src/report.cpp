#include "symbreak/properties/report.hpp"

#include "symbreak/junit.hpp"
#include "symbreak/text.hpp"


#include <algorithm>
#include <fmt/format.h>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace symbreak::properties {
namespace {

using text::display_width;
using text::pad;
using text::sci;

std::string finding_text(const Verdict& v) {
  const Finding& f = *v.finding;
  std::string s = describe(f.found, 0) + ": ";
  if (v.arith == Precision::exact) {
    s += "Δ = " + sci(f.deviation) + " (exact, " + std::to_string(f.exact_bits) + "-bit rational)";
  } else {
    s += "|Δ| = " + sci(f.deviation) + " > bound " + sci(f.bound);
    if (!f.exact_difference.empty()) s += "; exact Δ ≠ 0 (" + std::to_string(f.exact_bits) + "-bit)";
  }
  return s + " at " + f.element;
}

}  // namespace

std::string evidence(const Verdict& v) {
  switch (v.status) {
    case Status::not_applicable: return v.note;
    case Status::error: return "error: " + v.note;
    case Status::broken_as_expected: return "witness " + finding_text(v);
    case Status::violated:
      if (v.finding) return "counterexample " + finding_text(v);
      return v.note;
    case Status::holds: break;
  }
  if (v.arith == Precision::exact)
    return "max|Δ| = " + std::string(v.max_deviation == 0 ? "0" : sci(v.max_deviation)) + " (exact)";
  std::string s = "max|Δ| = " + sci(v.max_deviation) + " ≤ bound " + sci(v.bound) + " (c=" + fmt::format("{:g}", v.c) + " × ref err " + sci(v.err_ref) +
                  " + atol " + sci(v.atol) + ")";
  if (v.rounding_outliers > 0) s += "; " + std::to_string(v.rounding_outliers) + " cleared by the exact reference";
  return s;
}

void print_table(std::ostream& out, const std::vector<Verdict>& verdicts) {
  std::size_t name_width = 8;
  for (const auto& v : verdicts) name_width = std::max(name_width, v.property.size());
  out << pad("property", name_width + 2) << pad("arith", 7) << pad("cases", 7) << pad("verdict", 20) << "evidence\n";
  for (const auto& v : verdicts) {
    std::string cases = std::to_string(v.cases);
    if (v.time_capped) cases += "*";
    out << pad(v.property, name_width + 2) << pad(std::string(to_string(v.arith)), 7) << pad(cases, 7)
        << pad(v.status == Status::broken_as_expected ? "broken, as expected" : std::string(to_string(v.status)), 20)
        << evidence(v) << '\n';
  }
  if (std::any_of(verdicts.begin(), verdicts.end(), [](const Verdict& v) { return v.time_capped; }))
    out << "* the search stopped at its time cap\n";
}

void print_statistics(std::ostream& out, const std::vector<Verdict>& verdicts) {
  out << "cases by architecture (models drawn; L layers, H heads, LN pre-LayerNorm, residuals):\n";
  for (const auto& v : verdicts) {
    if (v.classes.empty()) continue;
    out << "  " << v.property << " " << to_string(v.arith) << ":";
    std::vector<std::pair<int, std::string>> sorted;
    for (const auto& [k, n] : v.classes) sorted.emplace_back(n, k);
    std::sort(sorted.rbegin(), sorted.rend());
    for (std::size_t i = 0; i < sorted.size() && i < 6; ++i) out << "  [" << sorted[i].second << "] " << sorted[i].first;
    if (sorted.size() > 6) out << "  (+" << sorted.size() - 6 << " more classes)";
    out << '\n';
  }
}

void print_findings(std::ostream& out, const std::vector<Verdict>& verdicts) {
  for (const auto& v : verdicts) {
    if (v.passed() || !v.finding) continue;
    out << "\n" << v.property << " " << to_string(v.arith) << " " << to_string(v.status) << ": " << finding_text(v) << "\n";
    if (!v.finding->exact_difference.empty() && v.finding->exact_difference.size() <= 200)
      out << "  exact Δ = " << v.finding->exact_difference << "\n";
    out << "  replay: " << v.finding->replay << "\n";
    if (!v.finding->rc_reproduce.empty())
      out << "  or: RC_PARAMS=\"" << v.finding->rc_reproduce << "\" symbreak check --property " << v.property << " --arith "
          << to_string(v.arith) << "\n";
  }
}

std::string to_json(const std::vector<Verdict>& verdicts, std::uint64_t seed) {
  nlohmann::json j;
  j["seed"] = seed;
  j["verdicts"] = nlohmann::json::array();
  for (const auto& v : verdicts) {
    nlohmann::json r;
    r["property"] = v.property;
    r["arith"] = to_string(v.arith);
    r["target"] = v.target;
    r["expectation"] = v.expectation == Expectation::holds ? "holds" : "broken";
    r["status"] = to_string(v.status);
    r["passed"] = v.passed();
    r["models"] = v.models;
    r["cases"] = v.cases;
    r["time_capped"] = v.time_capped;
    r["shrink_capped"] = v.shrink_capped;
    r["max_deviation"] = v.max_deviation;
    r["bound"] = v.bound;
    r["err_ref"] = v.err_ref;
    r["atol"] = v.atol;
    r["c"] = v.c;
    r["rounding_outliers"] = v.rounding_outliers;
    r["evidence"] = evidence(v);
    r["note"] = v.note;
    r["seconds"] = v.seconds;
    r["seed"] = v.seed;
    r["classes"] = v.classes;
    if (v.finding) {
      const Finding& f = *v.finding;
      r["finding"] = {{"case", nlohmann::json::parse(case_to_json(f.found))},
                      {"element", f.element},
                      {"deviation", f.deviation},
                      {"bound", f.bound},
                      {"exact_difference", f.exact_difference},
                      {"saved_to", f.saved_to},
                      {"replay", f.replay},
                      {"rc_reproduce", f.rc_reproduce}};
    }
    j["verdicts"].push_back(r);
  }
  return j.dump(2);
}

std::string to_junit(const std::vector<Verdict>& verdicts, const std::string& suite_name) {
  junit::TestSuite suite;
  suite.name = suite_name;
  for (const auto& v : verdicts) {
    junit::TestCase c;
    c.name = v.property + " [" + std::string(to_string(v.arith)) + "]";
    c.classname = "symbreak." + v.property;
    c.seconds = v.seconds;
    const std::string text = evidence(v);
    if (v.status == Status::violated) {
      c.outcome = junit::Outcome::failure;
      c.type = "VIOLATED";
      c.message = text;
      c.detail = text + (v.finding ? "\nreplay: " + v.finding->replay : "");
    } else if (v.status == Status::error) {
      c.outcome = junit::Outcome::error;
      c.type = "ERROR";
      c.message = c.detail = text;
    } else if (v.status == Status::not_applicable) {
      c.outcome = junit::Outcome::skipped;
      c.message = text;
    }
    c.system_out = std::to_string(v.cases) + " cases: " + text;
    suite.cases.push_back(std::move(c));
  }
  return junit::document("symbreak check", suite);
}

}  // namespace symbreak::properties
