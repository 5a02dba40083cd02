// The catalogue on the reference model, and its teeth: every property fails on at least one
// deliberately broken model, in Exact and in float64.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "symbreak/io.hpp"
#include "symbreak/properties/report.hpp"
#include "symbreak/properties/runner.hpp"

namespace symbreak::properties {
namespace {

CheckOptions quick(std::uint64_t seed = 7) {
  CheckOptions o;
  o.seed = seed;
  o.cases = 25;
  o.probes = 3;
  o.failure_dir.clear();
  o.search_seconds = 120;
  o.shrink_seconds = 20;
  return o;
}

class EveryProperty : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryProperty, PassesOnTheReferenceInEveryArithmetic) {
  CheckOptions o = quick();
  o.properties = {GetParam()};
  for (const Verdict& v : run_check(reference_target(), o)) {
    EXPECT_TRUE(v.passed()) << v.property << " " << to_string(v.arith) << ": " << evidence(v) << " " << v.note;
    EXPECT_NE(v.status, Status::not_applicable);
    EXPECT_GT(v.cases, 0);
    if (v.expectation == Expectation::holds) {
      EXPECT_EQ(v.status, Status::holds);
      EXPECT_EQ(v.cases, 25 * 3) << "every model and probe is evaluated";
      if (v.arith == Precision::exact) EXPECT_EQ(v.max_deviation, 0.0);
      else EXPECT_LE(v.max_deviation, v.bound);
    } else {
      ASSERT_TRUE(v.finding) << "a broken symmetry needs a witness";
      if (v.arith == Precision::exact) {
        EXPECT_NE(v.finding->exact_difference, "0");
        EXPECT_FALSE(v.finding->exact_difference.empty());
      }
      EXPECT_EQ(v.finding->found.probes.size(), 1u) << "the witness is shrunk to one probe";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, EveryProperty,
                         ::testing::Values("EQUIV", "NEXT", "CAUSAL-DEPTH1", "CAUSAL-BREAKS", "PE-BREAKS", "PREFIX", "ROT-QK",
                                           "ROT-QK-GL", "ROT-VO", "BIAS-KEY", "BIAS-QUERY-BREAKS", "BIAS-VALUE-BREAKS", "HEADS",
                                           "BATCH"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

struct Teeth {
  const char* property;
  Fault fault;
  double epsilon;
};

class BrokenModel : public ::testing::TestWithParam<Teeth> {};

// The fault must make the property fail, in Exact and in float64.
TEST_P(BrokenModel, IsCaught) {
  const Teeth& t = GetParam();
  CheckOptions o = quick(11);
  o.properties = {t.property};
  o.ariths = {Precision::exact, Precision::f64};
  o.cases = 60;
  for (const Verdict& v : run_check(reference_target({t.fault, t.epsilon}), o)) {
    EXPECT_EQ(v.status, Status::violated) << t.property << " did not catch " << to_string(t.fault) << " (ε = " << t.epsilon
                                          << ") in " << to_string(v.arith) << ": " << evidence(v);
    if (v.status == Status::violated)
      std::printf("[ killed   ] %s (ε=%g) by %s in %s: %s\n", std::string(to_string(t.fault)).c_str(), t.epsilon, t.property,
                  std::string(to_string(v.arith)).c_str(), evidence(v).c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryPropertyHasTeeth, BrokenModel,
    ::testing::Values(Teeth{"EQUIV", Fault::position_offset, 1e-3}, Teeth{"EQUIV", Fault::position_offset, 1e-9},
                      Teeth{"NEXT", Fault::position_offset, 1e-3}, Teeth{"NEXT", Fault::position_offset, 1e-9},
                      Teeth{"CAUSAL-DEPTH1", Fault::position_offset, 1e-3}, Teeth{"CAUSAL-DEPTH1", Fault::position_offset, 1e-9},
                      Teeth{"CAUSAL-BREAKS", Fault::mask_ignored, 1e-3}, Teeth{"PE-BREAKS", Fault::pe_ignored, 1e-3},
                      Teeth{"PREFIX", Fault::future_leak, 1e-3}, Teeth{"EQUIV", Fault::future_leak, 1e-3},
                      Teeth{"ROT-QK", Fault::hidden_query_bias, 1e-3}, Teeth{"ROT-QK-GL", Fault::hidden_query_bias, 1e-3},
                      Teeth{"ROT-VO", Fault::hidden_value_bias, 1e-3}, Teeth{"BIAS-KEY", Fault::key_bias_to_query, 1e-3},
                      Teeth{"BIAS-QUERY-BREAKS", Fault::query_bias_dropped, 1e-3},
                      Teeth{"BIAS-VALUE-BREAKS", Fault::value_bias_dropped, 1e-3}, Teeth{"HEADS", Fault::head_asymmetry, 1e-3},
                      Teeth{"BATCH", Fault::batch_cross_talk, 1e-3}),
    [](const auto& info) {
      std::string n = std::string(info.param.property) + "_" + std::string(to_string(info.param.fault)) +
                      (info.param.epsilon < 1e-6 ? "_tiny" : "");
      for (char& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

// ε = 1e-9 sits below float32's resolution: float32 cannot see it, float64 and Exact can.
TEST(BrokenModel, TinyOffsetIsBelowFloat32Resolution) {
  CheckOptions o = quick(3);
  o.properties = {"NEXT"};
  o.ariths = {Precision::f32};
  const Verdict v = run_check(reference_target({Fault::position_offset, 1e-9}), o).front();
  EXPECT_EQ(v.status, Status::holds) << evidence(v);
}

TEST(Runner, SameSeedSameFinding) {
  CheckOptions o = quick(5);
  o.properties = {"CAUSAL-BREAKS"};
  o.ariths = {Precision::exact};
  const Verdict a = run_check(reference_target(), o).front();
  const Verdict b = run_check(reference_target(), o).front();
  ASSERT_TRUE(a.finding && b.finding);
  EXPECT_EQ(case_to_json(a.finding->found), case_to_json(b.finding->found));
  EXPECT_EQ(a.finding->exact_difference, b.finding->exact_difference);
  EXPECT_EQ(a.cases, b.cases);
}

TEST(Runner, WitnessesShrinkToSmallModels) {
  CheckOptions o = quick(9);
  o.properties = {"CAUSAL-BREAKS"};
  o.ariths = {Precision::exact};
  const Verdict v = run_check(reference_target(), o).front();
  ASSERT_TRUE(v.finding);
  const ModelConfig& c = v.finding->found.model.config;
  EXPECT_EQ(c.layers, 2);  // the smallest depth where the causal mask breaks invariance
  EXPECT_EQ(c.heads, 1);
  EXPECT_LE(c.d_model, 2);
  EXPECT_EQ(v.finding->found.probes[0].tokens.size(), 3u);  // the shortest sequence that can show it
}

TEST(Runner, TimeCapStopsTheSearch) {
  CheckOptions o = quick();
  o.properties = {"EQUIV"};
  o.ariths = {Precision::exact};
  o.cases = 100000;
  o.search_seconds = 0.2;
  const Verdict v = run_check(reference_target(), o).front();
  EXPECT_TRUE(v.time_capped);
  EXPECT_EQ(v.status, Status::holds);
  EXPECT_LT(v.models, 100000);
  EXPECT_THAT(v.note, ::testing::HasSubstr("time cap"));
}

TEST(Runner, StatisticsClassifyEveryModel) {
  CheckOptions o = quick();
  o.properties = {"HEADS"};
  o.ariths = {Precision::f32};
  const Verdict v = run_check(reference_target(), o).front();
  int total = 0;
  for (const auto& [name, count] : v.classes) total += count;
  EXPECT_EQ(total, v.models);
  EXPECT_GT(v.classes.size(), 1u);
}

TEST(FailureDatabase, SavesReplaysFirstAndForgetsFixedFailures) {
  const std::string dir = ::testing::TempDir() + "/symbreak_failures";
  std::filesystem::remove_all(dir);
  CheckOptions o = quick(13);
  o.failure_dir = dir;
  o.properties = {"PREFIX"};
  o.ariths = {Precision::exact};
  const Target broken = reference_target({Fault::future_leak, 1e-3});
  const Verdict first = run_check(broken, o).front();
  ASSERT_EQ(first.status, Status::violated);
  ASSERT_FALSE(first.finding->saved_to.empty());
  EXPECT_TRUE(std::filesystem::exists(first.finding->saved_to));
  EXPECT_THAT(first.finding->replay, ::testing::HasSubstr("symbreak check --replay " + first.finding->saved_to));

  // The next run replays the stored failure before searching.
  o.seed = 99;
  const Verdict second = run_check(broken, o).front();
  EXPECT_EQ(second.status, Status::violated);
  EXPECT_EQ(second.cases, 1);
  EXPECT_THAT(second.note, ::testing::HasSubstr("stored failure replayed first"));
  EXPECT_EQ(case_to_json(second.finding->found), case_to_json(first.finding->found));

  // Replaying the file alone gives the same finding.
  const Verdict replayed = replay_file(first.finding->saved_to, o);
  EXPECT_EQ(replayed.status, Status::violated);
  EXPECT_EQ(replayed.finding->exact_difference, first.finding->exact_difference);

  // A stored failure that passes now (the same case on the fixed model) is removed.
  const std::string fixed_copy = dir + "/PREFIX-exact-fixed.json";
  nlohmann::json stored = nlohmann::json::parse(read_file(first.finding->saved_to));
  stored["fault"] = "none";
  stored["target"] = "reference";
  write_file_atomically(fixed_copy, stored.dump());
  const Verdict healthy = run_check(reference_target(), o).front();
  EXPECT_EQ(healthy.status, Status::holds);
  EXPECT_FALSE(std::filesystem::exists(fixed_copy));
  EXPECT_THAT(healthy.note, ::testing::HasSubstr("now passes and was removed"));
}

TEST(FailureDatabase, RejectsMalformedFiles) {
  const std::string path = ::testing::TempDir() + "/bad_failure.json";
  write_file_atomically(path, R"({"property": "NOPE", "arith": "exact", "case": {}})");
  EXPECT_THROW(replay_file(path, quick()), ConfigError);
  write_file_atomically(path, R"({"property": "EQUIV", "arith": "f16", "case": {}})");
  EXPECT_THROW(replay_file(path, quick()), ConfigError);
  write_file_atomically(path, "{not json");
  EXPECT_THROW(replay_file(path, quick()), ConfigError);
}

TEST(Reports, JsonAndJunitCarryEveryVerdict) {
  CheckOptions o = quick();
  o.properties = {"EQUIV", "CAUSAL-BREAKS"};
  o.ariths = {Precision::exact};
  const auto verdicts = run_check(reference_target(), o);
  const auto j = nlohmann::json::parse(to_json(verdicts, 7));
  ASSERT_EQ(j["verdicts"].size(), 2u);
  EXPECT_EQ(j["verdicts"][0]["status"], "holds");
  EXPECT_EQ(j["verdicts"][1]["status"], "broken-as-expected");
  EXPECT_TRUE(j["verdicts"][1].contains("finding"));
  const std::string xml = to_junit(verdicts, "suite");
  EXPECT_THAT(xml, ::testing::HasSubstr("<testsuites"));
  EXPECT_THAT(xml, ::testing::HasSubstr("tests=\"2\" failures=\"0\""));
}

}  // namespace
}  // namespace symbreak::properties
