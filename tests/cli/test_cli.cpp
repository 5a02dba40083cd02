// End-to-end: the symbreak tool as a user runs it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli_runner.hpp"

namespace symbreak::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(CliDemo, PrintsExactZeroWhereSymmetryHoldsAndNonzeroWhereBroken) {
  const CliResult r = run_cli("demo");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("invariant: Δ = 0 exactly"));
  EXPECT_THAT(r.output, HasSubstr("broken: Δ ≠ 0 exactly"));
  EXPECT_THAT(r.output, Not(HasSubstr("UNEXPECTED")));
  // Each built-in model reports in all three arithmetics.
  for (const char* model : {"no mask, no PE", "causal mask, depth 2", "learned PE, no mask"})
    EXPECT_THAT(r.output, HasSubstr(model));
  for (const char* arith : {"f32", "f64", "exact"}) EXPECT_THAT(r.output, HasSubstr(arith));
}

TEST(CliDemo, RunsAUserConfig) {
  const std::string path = write_file("good.json", R"({"vocab_size": 8, "context_length": 6, "d_model": 8,
    "heads": 2, "layers": 2, "mask": "causal", "init": "scaled"})");
  const CliResult r = run_cli("demo --config " + path + " --length 6");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("broken: Δ ≠ 0 exactly"));
}

struct BadConfig {
  const char* name;
  const char* json;
  const char* must_mention;
};

class CliBadConfig : public ::testing::TestWithParam<BadConfig> {};

TEST_P(CliBadConfig, ExitsTwoNamingTheField) {
  const BadConfig& bad = GetParam();
  const std::string path = write_file(std::string(bad.name) + ".json", bad.json);
  const CliResult r = run_cli("demo --config " + path);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("error:"), HasSubstr(bad.must_mention), HasSubstr(bad.name)));
  EXPECT_THAT(r.output, Not(HasSubstr("internal")));
}

INSTANTIATE_TEST_SUITE_P(EachKindOfMistake, CliBadConfig,
                         ::testing::Values(BadConfig{"unknown_key", R"({"head": 2})", "unknown key \"head\""},
                                           BadConfig{"negative_size", R"({"d_model": -8})", "\"d_model\": -8"},
                                           BadConfig{"zero_size", R"({"layers": 0})", "\"layers\": 0"},
                                           BadConfig{"indivisible", R"({"d_model": 64, "heads": 5})", "does not divide"},
                                           BadConfig{"wrong_type", R"({"heads": "two"})", "must be an integer"},
                                           BadConfig{"unknown_enum", R"({"mask": "casual"})", "allowed: none, causal, explicit"},
                                           BadConfig{"syntax", R"({"heads": )", "not valid JSON"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CliUsage, BadFlagsExitTwo) {
  EXPECT_EQ(run_cli("demo --no-such-flag").exit_code, 2);
  EXPECT_EQ(run_cli("no-such-command").exit_code, 2);
  EXPECT_EQ(run_cli("demo --length 1").exit_code, 2);
  const CliResult missing = run_cli("demo --config /nonexistent/model.json");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent/model.json"));
  const std::string path = write_file("short_context.json", R"({"context_length": 4})");
  const CliResult too_long = run_cli("demo --config " + path + " --length 8");
  EXPECT_EQ(too_long.exit_code, 2);
  EXPECT_THAT(too_long.output, HasSubstr("context_length"));
  EXPECT_EQ(run_cli("--help").exit_code, 0);
}

}  // namespace
}  // namespace symbreak::test
