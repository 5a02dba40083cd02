// JUnit XML, the report CI systems read (GitHub Actions, GitLab, Jenkins): one writer for every
// command that emits it (symbreak check --junit, symbreak validate --junit), through pugixml, so
// escaping and well-formedness are the library's, not ours.
#pragma once

#include <string>
#include <vector>

namespace symbreak::junit {

enum class Outcome { passed, failure, error, skipped };

struct TestCase {
  std::string name, classname;
  double seconds = 0;
  Outcome outcome = Outcome::passed;
  std::string message;     // <failure message=…>, <error message=…>, <skipped message=…>
  std::string type;        // <failure type=…> ("VIOLATED", "FAIL"); <error type=…>
  std::string detail;      // the failure's or error's text (evidence, replay line)
  std::string system_out;  // <system-out>: what was run (cases, region)
};

struct TestSuite {
  std::string name;
  std::vector<TestCase> cases;
  double seconds = -1;  // the suite's time; < 0: the sum of its cases'
};

// <?xml …?><testsuites name=`suites_name` tests failures errors time><testsuite name tests failures
// errors skipped time timestamp hostname>…: the attributes the common readers require. Control
// characters other than newline and tab become spaces (XML 1.0 cannot carry them).
std::string document(const std::string& suites_name, const TestSuite& suite);

}  // namespace symbreak::junit
