// End-to-end: symbreak validate, as a kernel author runs it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pugixml.hpp>

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

std::string plugin(const std::string& name) { return std::string(SYMBREAK_PLUGIN_DIR) + "/" + name + ".so"; }

TEST(CliValidate, CorrectBuiltinPassesWithReports) {
  const std::string json = scratch("v.json"), junit = scratch("v.xml"), html = scratch("v.html");
  const CliResult r = run_cli("validate --builtin tiled:8:8 --cases 6 --json " + json + " --junit " + junit + " --html " + html);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* p : {"REFERENCE", "KV-PERM", "Q-PERM", "CAUSAL", "MASK", "CONVEX", "HEADS", "BATCH", "ROBUST", "DETERMINISM",
                        "MASKED-INDEPENDENCE",
                        "BWD-REFERENCE", "BWD-CAUSAL", "BWD-MASK", "BWD-ROWSUM", "BWD-ROBUST", "BWD-DETERMINISM",
                        // version 2 (the naive built-in declares every version-2 feature, bottom-right aligned)
                        "ALIGNMENT", "GQA-MAPPING", "WINDOW-BOUNDARY", "PADDING", "EMPTY-ROWS", "BWD-ALIGNMENT",
                        "BWD-GQA-MAPPING", "BWD-WINDOW-BOUNDARY", "BWD-PADDING", "BWD-EMPTY-ROWS", "GQA-PERM", "BWD-GQA-PERM",
                        "SOFTCAP", "BWD-SOFTCAP", "BIAS", "BWD-BIAS", "ALIBI", "BWD-ALIBI"})
    EXPECT_THAT(r.output, HasSubstr(p));
  EXPECT_THAT(r.output, HasSubstr("and its gradients"));
  EXPECT_THAT(r.output, HasSubstr("all properties pass"));
  const auto j = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(j["passed"], true);
  EXPECT_EQ(j["verdicts"].size(), 35u);
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_string(slurp(junit).c_str());
  ASSERT_TRUE(parsed) << "not well-formed XML: " << parsed.description() << " at byte " << parsed.offset;
  const pugi::xml_node root = doc.document_element();
  ASSERT_STREQ(root.name(), "testsuites");
  const auto suites = root.children("testsuite");
  ASSERT_EQ(std::distance(suites.begin(), suites.end()), 1);
  const auto cases = root.child("testsuite").children("testcase");
  EXPECT_EQ(std::distance(cases.begin(), cases.end()), 35);
  for (const pugi::xml_node c : cases)
    for (const char* a : {"name", "classname", "time"}) EXPECT_TRUE(c.attribute(a)) << a;
  const std::string page = slurp(html);
  EXPECT_THAT(page, AllOf(HasSubstr("<!DOCTYPE html>"), HasSubstr("REFERENCE"), HasSubstr("<style>")));
  EXPECT_THAT(page, AllOf(Not(HasSubstr("src=")), Not(HasSubstr("href=")))) << "the HTML report must be self-contained";
}

TEST(CliValidate, CompareNamesTheFirstDisagreementAndWhichKernelIsOff) {
  // A cross-backend report: a correct bottom-right kernel against FlashAttention < 2.1's top-left
  // convention declared as bottom-right (tests/mutants/history/mutant_causal_top_left.c).
  const std::string db = scratch("validate_compare");
  std::filesystem::remove_all(db);
  const CliResult r = run_cli("validate --compare plugin:" + plugin("correct_v2") + " plugin:" + plugin("mutant_causal_top_left") +
                              " --cases 10 --shrink-cap 2 --failures " + db);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("DISAGREE after"), HasSubstr("(B) is off the exact value"), HasSubstr("replay B: ")));
  const std::size_t at = r.output.find("replay B: ");
  ASSERT_NE(at, std::string::npos);
  const std::string line = r.output.substr(at + 10, r.output.find('\n', at) - at - 10);
  const std::string dir = line.substr(line.find("--replay ") + 9);
  EXPECT_EQ(run_cli("validate --plugin " + plugin("mutant_causal_top_left") + " --replay " + dir).exit_code, 1);
  EXPECT_EQ(run_cli("validate --plugin " + plugin("correct_v2") + " --replay " + dir).exit_code, 0);

  const CliResult same = run_cli("validate --compare plugin:" + plugin("correct_v2") + " builtin:tiled --cases 5 --failures " + db);
  EXPECT_EQ(same.exit_code, 0) << same.output;
  EXPECT_THAT(same.output, HasSubstr("agree: "));

  const CliResult bad = run_cli("validate --compare pluggin:x.so builtin:naive");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("\"pluggin:x.so\" is not a kernel"));
  EXPECT_EQ(run_cli("validate --compare builtin:naive builtin:tiled --seeds 1-3").exit_code, 2);
}

TEST(CliValidate, MutantFailsWithAReplayLineThatReplays) {
  const std::string db = scratch("validate_failures");
  std::filesystem::remove_all(db);
  const CliResult r =
      run_cli("validate --plugin " + plugin("mutant_mask_ignored") + " --cases 10 --property MASK --failures " + db);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("MASK FAILED on"), HasSubstr("replay: symbreak validate --plugin")));
  const std::size_t at = r.output.find("--replay ");
  ASSERT_NE(at, std::string::npos);
  const std::string dir = r.output.substr(at + 9, r.output.find('\n', at) - at - 9);
  EXPECT_TRUE(std::filesystem::exists(dir + "/case.json")) << dir;
  const CliResult replay = run_cli("validate --plugin " + plugin("mutant_mask_ignored") + " --replay " + dir);
  EXPECT_EQ(replay.exit_code, 1) << replay.output;
  EXPECT_THAT(replay.output, HasSubstr("MASK"));
  EXPECT_EQ(run_cli("validate --builtin naive --replay " + dir).exit_code, 0);
}

TEST(CliValidate, CrashingPluginIsAFailureNotACrash) {
  const CliResult r = run_cli("validate --plugin " + plugin("faulty_segfault") + " --cases 5 --property REFERENCE,HEADS");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("crashed: SIGSEGV"));
  EXPECT_THAT(r.output, HasSubstr("HEADS"));  // the validator went on after the crash
}

// A causal-only kernel, through the command line: declared by the plugin, or declared for it with
// --supports; --seeds runs the suite on several seeds and summarises them.
TEST(CliValidate, CausalOnlyKernelsAreValidatedInsideTheirRegion) {
  const CliResult r = run_cli("validate --plugin " + plugin("correct_causal_only") + " --cases 8 --seeds 1-3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("region: masks causal; n_q != n_k; scale 1/sqrt(d_head) only; d_v == d_head only; forward and backward"));
  EXPECT_THAT(r.output, HasSubstr("not applicable: needs an explicit mask"));
  EXPECT_THAT(r.output, HasSubstr("3 of 3 seeds pass"));
  // The exec stub refuses non-causal cases; declared causal-only, it passes; declared more, it fails.
  const std::string stub = "--exec \"" + std::string(SYMBREAK_EXEC_STUB) + " good\"";
  const CliResult narrowed = run_cli("validate " + stub + " --supports causal --cases 5 --property REFERENCE,MASK");
  EXPECT_EQ(narrowed.exit_code, 0) << narrowed.output;
  EXPECT_THAT(narrowed.output, HasSubstr("n/a"));
  const CliResult widened =
      run_cli("validate --plugin " + plugin("correct_causal_only") + " --supports none,causal --cases 5 --property REFERENCE");
  EXPECT_EQ(widened.exit_code, 1) << widened.output;
  EXPECT_THAT(widened.output, HasSubstr("returned 7"));
  // The causal-only mutant with a finite running-max start, on every seed.
  const CliResult mutant =
      run_cli("validate --plugin " + plugin("mutant_causal_only_max_start") + " --seeds 1-4 --fail-fast --shrink-cap 0");
  EXPECT_EQ(mutant.exit_code, 1) << mutant.output;
  EXPECT_THAT(mutant.output, HasSubstr("0 of 4 seeds pass"));
}

TEST(CliValidate, BadInputExitsTwo) {
  expect_bad_input("validate --builtin naive --supports causal,sparse", "--supports: \"sparse\" is not a capability");
  expect_bad_input("validate --builtin naive --seeds 5-2", "--seeds");
  expect_bad_input("validate --plugin /nonexistent/libk.so", "/nonexistent/libk.so");
  const std::string text = write_file("not_a_plugin.so", "plain text");
  expect_bad_input("validate --plugin " + text, "cannot load");
  expect_bad_input("validate --exec \"/nonexistent/kernel --x\"", "exited with code 127");
  expect_bad_input("validate --builtin nope", "allowed: naive");
  expect_bad_input("validate", "give one of --plugin");
  expect_bad_input("validate --builtin naive --property NOPE", "unknown property \"NOPE\"");
  expect_bad_input("validate --builtin naive --replay /nonexistent/case", "/nonexistent/case");
  expect_bad_input("validate --builtin naive --plugin x.so", "excludes");
  const std::string empty_case = scratch("empty_case");
  std::filesystem::create_directories(empty_case);
  expect_bad_input("validate --builtin naive --replay " + empty_case, "q.npy");
}

}  // namespace
}  // namespace symbreak::test
