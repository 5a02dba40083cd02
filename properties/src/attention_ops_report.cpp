// Reports of `symbreak validate`: a table, JSON, JUnit XML and a self-contained HTML page.
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <ostream>

#include "symbreak/properties/attention_ops.hpp"
#include "text.hpp"

namespace symbreak::props::ops {
namespace {

using text::pad;
using text::sci;
const auto escape = text::escape_markup;

std::string error_text(const OpVerdict& v) {
  if (v.status == "skipped") return "-";
  if (v.worst_bound <= 0 && v.worst_error <= 0) return v.status == "FAIL" ? "-" : "0";
  return sci(v.worst_error) + (v.status == "FAIL" && v.worst_error > v.worst_bound ? " > " : " ≤ ") + sci(v.worst_bound);
}

}  // namespace

void print_op_report(std::ostream& out, const OpReport& r) {
  out << pad("property", 13) << pad("cases", 7) << pad("verdict", 9) << pad("worst error vs bound", 24) << "element / detail\n";
  for (const OpVerdict& v : r.verdicts) {
    std::string detail = v.status == "pass" ? v.element.text() : v.message;
    if (v.status == "FAIL" && v.element.batch >= 0) detail += " at " + v.element.text();
    if (v.status == "pass" && !v.message.empty()) detail = v.message;
    out << pad(v.property, 13) << pad(std::to_string(v.cases), 7) << pad(v.status, 9) << pad(error_text(v), 24) << detail
        << '\n';
  }
  for (const OpVerdict& v : r.verdicts) {
    if (v.status != "FAIL") continue;
    out << "\n" << v.property << " FAILED on " << v.shape << "\n  " << v.message << "\n";
    if (!v.counterexample_dir.empty()) out << "  case saved in " << v.counterexample_dir << "\n";
    out << "  replay: " << v.replay << "\n";
  }
  char line[160];
  std::snprintf(line, sizeof line, "\n%s: %s in %.1f s (seed %llu)\n", r.kernel.c_str(),
                r.passed() ? "all properties pass" : "FAILED", r.seconds, static_cast<unsigned long long>(r.seed));
  out << line;
}

std::string op_report_json(const OpReport& r) {
  nlohmann::json j;
  j["kernel"] = r.kernel;
  j["seed"] = r.seed;
  j["passed"] = r.passed();
  j["seconds"] = r.seconds;
  j["verdicts"] = nlohmann::json::array();
  for (const OpVerdict& v : r.verdicts)
    j["verdicts"].push_back({{"property", v.property},
                             {"status", v.status},
                             {"cases", v.cases},
                             {"worst_error", v.worst_error},
                             {"worst_bound", v.worst_bound},
                             {"element", {{"batch", v.element.batch}, {"head", v.element.head}, {"row", v.element.row},
                                          {"column", v.element.col}}},
                             {"message", v.message},
                             {"shape", v.shape},
                             {"counterexample_dir", v.counterexample_dir},
                             {"replay", v.replay},
                             {"seconds", v.seconds}});
  return j.dump(2);
}

std::string op_report_junit(const OpReport& r) {
  int failures = 0, skipped = 0;
  for (const OpVerdict& v : r.verdicts) {
    failures += v.status == "FAIL";
    skipped += v.status == "skipped";
  }
  char host[256] = "localhost", stamp[32], t[32];
  gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
  std::snprintf(t, sizeof t, "%.3f", r.seconds);
  const std::string n = std::to_string(r.verdicts.size()), f = std::to_string(failures);
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"symbreak validate\" tests=\"" + n +
                  "\" failures=\"" + f + "\" errors=\"0\" time=\"" + t + "\">\n";
  x += "  <testsuite name=\"" + escape("symbreak.validate." + r.kernel) + "\" tests=\"" + n + "\" failures=\"" + f +
       "\" errors=\"0\" skipped=\"" + std::to_string(skipped) + "\" time=\"" + t + "\" timestamp=\"" + stamp +
       "\" hostname=\"" + escape(host) + "\">\n";
  for (const OpVerdict& v : r.verdicts) {
    char s[32];
    std::snprintf(s, sizeof s, "%.3f", v.seconds);
    x += "    <testcase name=\"" + escape(v.property) + "\" classname=\"" + escape("symbreak.validate." + r.kernel) +
         "\" time=\"" + s + "\">\n";
    if (v.status == "FAIL")
      x += "      <failure message=\"" + escape(v.message) + "\" type=\"FAIL\">" +
           escape(v.message + " at " + v.element.text() + " on " + v.shape + "\nreplay: " + v.replay) + "</failure>\n";
    else if (v.status == "skipped")
      x += "      <skipped message=\"" + escape(v.message) + "\"/>\n";
    x += "      <system-out>" + escape(std::to_string(v.cases) + " cases; worst error " + error_text(v)) +
         "</system-out>\n    </testcase>\n";
  }
  return x + "  </testsuite>\n</testsuites>\n";
}

std::string op_report_html(const OpReport& r) {
  std::string h = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>symbreak validate: )" +
                  escape(r.kernel) + R"(</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.pass{color:#176c1d}.FAIL{color:#b00020;font-weight:bold}.warning{color:#a66200}
code{background:#f4f4f4;padding:.1em .3em}
</style></head><body>
<h1>symbreak validate: )" + escape(r.kernel) +
                  "</h1>\n<p>" + (r.passed() ? "All properties pass." : "<span class=\"FAIL\">FAILED</span>") +
                  " Seed " + std::to_string(r.seed) + ".</p>\n<table><tr><th>property</th><th>cases</th><th>verdict</th><th>worst "
                  "error vs bound</th><th>element / detail</th></tr>\n";
  for (const OpVerdict& v : r.verdicts) {
    std::string detail = v.status == "FAIL" ? v.message + " at " + v.element.text() + " on " + v.shape : v.element.text();
    h += "<tr><td>" + escape(v.property) + "</td><td>" + std::to_string(v.cases) + "</td><td class=\"" + escape(v.status) +
         "\">" + escape(v.status) + "</td><td>" + escape(error_text(v)) + "</td><td>" + escape(detail) +
         (v.replay.empty() || v.status != "FAIL" ? "" : "<br>replay: <code>" + escape(v.replay) + "</code>") + "</td></tr>\n";
  }
  return h + "</table>\n</body></html>\n";
}

}  // namespace symbreak::props::ops
