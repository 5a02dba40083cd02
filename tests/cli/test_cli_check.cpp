// End-to-end: symbreak check and symbreak check --map, as a user runs them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.hpp"

namespace symbreak::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(CliCheck, ReferencePassesTheWholeCatalogue) {
  const CliResult r = run_cli("check --seed 3 --cases 6 --no-failure-db");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* p : {"EQUIV", "NEXT", "CAUSAL-DEPTH1", "CAUSAL-BREAKS", "PE-BREAKS", "PREFIX", "ROT-QK", "ROT-QK-GL", "ROT-VO",
                        "BIAS-KEY", "BIAS-QUERY-BREAKS", "BIAS-VALUE-BREAKS", "HEADS", "BATCH"})
    EXPECT_THAT(r.output, HasSubstr(p));
  EXPECT_THAT(r.output, HasSubstr("broken, as expected"));
  EXPECT_THAT(r.output, HasSubstr("max|Δ| = 0 (exact)"));
  EXPECT_THAT(r.output, HasSubstr("≤ bound"));
  EXPECT_THAT(r.output, Not(HasSubstr("VIOLATED")));
}

TEST(CliCheck, BrokenModelFailsWithAReplayLineThatReplays) {
  const std::string db = scratch("failures_cli");
  std::filesystem::remove_all(db);
  const CliResult r = run_cli("check --seed 4 --cases 20 --property PREFIX --arith exact --fault future_leak --failures " + db);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("VIOLATED"), HasSubstr("replay: symbreak check --replay " + db)));
  ASSERT_TRUE(std::filesystem::is_directory(db));
  const auto file = std::filesystem::directory_iterator(db)->path().string();
  const CliResult replay = run_cli("check --replay " + file);
  EXPECT_EQ(replay.exit_code, 1) << replay.output;
  EXPECT_THAT(replay.output, HasSubstr("PREFIX"));
  EXPECT_THAT(replay.output, HasSubstr("VIOLATED"));
}

TEST(CliCheck, JunitIsWellFormedWithTheRequiredElements) {
  const std::string path = scratch("report.xml");
  const CliResult r = run_cli(
      "check --seed 5 --cases 4 --no-failure-db --property EQUIV,NEXT,PREFIX --fault position_offset "
      "--junit " +
      path);
  EXPECT_EQ(r.exit_code, 1) << r.output;  // EQUIV and NEXT fail on the offset model; PREFIX passes
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_string(slurp(path).c_str());
  ASSERT_TRUE(parsed) << "not well-formed XML: " << parsed.description() << " at byte " << parsed.offset;
  const pugi::xml_node root = doc.document_element();
  ASSERT_STREQ(root.name(), "testsuites");
  for (const char* a : {"tests", "failures", "errors", "time"}) EXPECT_TRUE(root.attribute(a)) << a;
  const auto suites = root.children("testsuite");
  ASSERT_EQ(std::distance(suites.begin(), suites.end()), 1);
  const pugi::xml_node suite = root.child("testsuite");
  for (const char* a : {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname"})
    EXPECT_TRUE(suite.attribute(a)) << a;
  const auto cases = suite.children("testcase");
  EXPECT_EQ(std::distance(cases.begin(), cases.end()), suite.attribute("tests").as_int());
  int failures = 0;
  for (const pugi::xml_node c : cases) {
    for (const char* a : {"name", "classname", "time"}) EXPECT_TRUE(c.attribute(a)) << a;
    for (const pugi::xml_node f : c.children("failure")) {
      ++failures;
      EXPECT_TRUE(f.attribute("message"));
      EXPECT_THAT(std::string(f.text().get()), HasSubstr("replay:"));
    }
  }
  EXPECT_GT(failures, 0);
  EXPECT_EQ(failures, suite.attribute("failures").as_int());
}

TEST(CliCheck, JsonCarriesVerdictsAndEvidence) {
  const std::string path = scratch("report.json");
  const CliResult r = run_cli("check --seed 6 --cases 4 --no-failure-db --property EQUIV --arith f64 --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(slurp(path));
  EXPECT_EQ(j["seed"], 6);
  ASSERT_EQ(j["verdicts"].size(), 1u);
  const auto& v = j["verdicts"][0];
  EXPECT_EQ(v["property"], "EQUIV");
  EXPECT_EQ(v["arith"], "f64");
  EXPECT_EQ(v["status"], "holds");
  EXPECT_LE(v["max_deviation"].get<double>(), v["bound"].get<double>());
  EXPECT_GT(v["err_ref"].get<double>() + v["atol"].get<double>(), 0);
  EXPECT_EQ(v["c"], 2.0);
}

TEST(CliCheck, RcParamsSeedIsHonoured) {
  const CliResult r = run_cli("check --cases 2 --no-failure-db --property EQUIV --arith exact", "RC_PARAMS=\"seed=4242\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("seed 4242"));
}

TEST(CliCheck, StatisticsAndTimeCap) {
  const CliResult r =
      run_cli("check --seed 8 --cases 100000 --time-cap 0.3 --no-failure-db --property HEADS --arith f32 --stats");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("time cap"));
  EXPECT_THAT(r.output, HasSubstr("cases by architecture"));
  EXPECT_THAT(r.output, HasSubstr("L=1 H="));
}

TEST(CliCheck, MapAgreesWithTheTheoremInEveryCell) {
  const std::string path = scratch("map.json");
  const CliResult r = run_cli("check --map --seed 2 --cases 6 --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("in 36/36 cells"));
  const auto j = nlohmann::json::parse(slurp(path));
  ASSERT_EQ(j["map"].size(), 36u);
  int invariant = 0;
  for (const auto& cell : j["map"]) {
    EXPECT_EQ(cell["invariant"], cell["theorem_says_invariant"]) << cell.dump();
    invariant += cell["invariant"].get<bool>();
  }
  EXPECT_EQ(invariant, 8);  // no PE: no mask (3 depths) or causal at depth 1, residuals on and off
}

TEST(CliCheck, BadInputExitsTwo) {
  expect_bad_input("check --arith f16", "f16");
  expect_bad_input("check --property NOPE", "unknown property \"NOPE\"");
  expect_bad_input("check --fault typo", "unknown fault \"typo\"");
  expect_bad_input("check --cases 0", "--cases");
  expect_bad_input("check --json /nonexistent/dir/report.json", "/nonexistent/dir");
  expect_bad_input("check --replay /nonexistent/failure.json", "/nonexistent/failure.json");
  const std::string bad = write_file("bad_failure.json", R"({"property": "EQUIV", "arith": "exact"})");
  expect_bad_input("check --replay " + bad, "\"case\"");
}

}  // namespace
}  // namespace symbreak::test
