#include "symbreak/junit.hpp"

#include <unistd.h>

#include <ctime>
#include <sstream>

#include <fmt/format.h>
#include <pugixml.hpp>

namespace symbreak::junit {
namespace {

std::string seconds(double s) { return fmt::format("{:.3f}", s); }

// XML 1.0 admits tab, newline and carriage return among the control characters, nothing else.
std::string printable(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') c = ' ';
  return s;
}

void attribute(pugi::xml_node node, const char* name, const std::string& value) {
  node.append_attribute(name).set_value(printable(value).c_str());
}

}  // namespace

std::string document(const std::string& suites_name, const TestSuite& suite) {
  int failures = 0, errors = 0, skipped = 0;
  double total = 0;
  for (const TestCase& c : suite.cases) {
    failures += c.outcome == Outcome::failure;
    errors += c.outcome == Outcome::error;
    skipped += c.outcome == Outcome::skipped;
    total += c.seconds;
  }
  if (suite.seconds >= 0) total = suite.seconds;
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));

  pugi::xml_document doc;
  pugi::xml_node declaration = doc.append_child(pugi::node_declaration);
  declaration.append_attribute("version") = "1.0";
  declaration.append_attribute("encoding") = "UTF-8";
  pugi::xml_node suites = doc.append_child("testsuites");
  attribute(suites, "name", suites_name);
  attribute(suites, "tests", std::to_string(suite.cases.size()));
  attribute(suites, "failures", std::to_string(failures));
  attribute(suites, "errors", std::to_string(errors));
  attribute(suites, "time", seconds(total));
  pugi::xml_node s = suites.append_child("testsuite");
  attribute(s, "name", suite.name);
  attribute(s, "tests", std::to_string(suite.cases.size()));
  attribute(s, "failures", std::to_string(failures));
  attribute(s, "errors", std::to_string(errors));
  attribute(s, "skipped", std::to_string(skipped));
  attribute(s, "time", seconds(total));
  attribute(s, "timestamp", stamp);
  attribute(s, "hostname", host);
  for (const TestCase& c : suite.cases) {
    pugi::xml_node t = s.append_child("testcase");
    attribute(t, "name", c.name);
    attribute(t, "classname", c.classname);
    attribute(t, "time", seconds(c.seconds));
    if (c.outcome == Outcome::failure || c.outcome == Outcome::error) {
      pugi::xml_node f = t.append_child(c.outcome == Outcome::failure ? "failure" : "error");
      attribute(f, "message", c.message);
      attribute(f, "type", c.type);
      f.append_child(pugi::node_pcdata).set_value(printable(c.detail).c_str());
    } else if (c.outcome == Outcome::skipped) {
      attribute(t.append_child("skipped"), "message", c.message);
    }
    if (!c.system_out.empty()) t.append_child("system-out").append_child(pugi::node_pcdata).set_value(printable(c.system_out).c_str());
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
  return out.str();
}

}  // namespace symbreak::junit
