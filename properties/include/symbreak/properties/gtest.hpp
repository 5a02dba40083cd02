// GoogleTest integration: run the catalogue on your own model in your own test binary.
//
//   #include <gtest/gtest.h>
//   #include <symbreak/properties/gtest.hpp>
//
//   symbreak::properties::Target my_target() { return symbreak::properties::function_target("mine", decl, my_model); }
//   SYMBREAK_SYMMETRY_SUITE(MyModel, my_target)   // one test per property of the catalogue
//
// or, in one test, symbreak::properties::expect_symmetries(my_target()).
// Each failure names the property, the arithmetic, the counterexample and the line that replays it.
// RC_PARAMS (seed=..., max_success=...) is honoured.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "symbreak/properties/function_target.hpp"
#include "symbreak/properties/report.hpp"
#include "symbreak/properties/runner.hpp"

namespace symbreak::properties {

inline std::vector<std::string> property_names() {
  std::vector<std::string> names;
  for (const Property& p : catalogue()) names.emplace_back(p.name);
  return names;
}

inline void report_verdict(const Verdict& v) {
  if (v.status == Status::not_applicable) return;
  if (v.passed()) return;
  std::string message =
      v.property + " [" + std::string(to_string(v.arith)) + "] " + std::string(to_string(v.status)) + ": " + evidence(v);
  if (v.finding) message += "\n  replay: " + v.finding->replay;
  if (!v.note.empty()) message += "\n  note: " + v.note;
  ADD_FAILURE() << message;
}

// Checks one property of the catalogue in every arithmetic the target offers.
inline void expect_property(const Target& target, const std::string& name, CheckOptions options = {}) {
  options.properties = {name};
  bool any_applicable = false;
  for (const Verdict& v : run_check(target, options)) {
    report_verdict(v);
    any_applicable = any_applicable || v.status != Status::not_applicable;
  }
  if (!any_applicable) GTEST_SKIP() << name << " does not apply to " << target.name;
}

// Checks the whole catalogue.
inline void expect_symmetries(const Target& target, CheckOptions options = {}) {
  for (const Verdict& v : run_check(target, options)) report_verdict(v);
}

}  // namespace symbreak::properties

// One GoogleTest test per property: SuiteName/Catalogue.Property/EQUIV, ...
#define SYMBREAK_SYMMETRY_SUITE(SuiteName, make_target)                                                         \
  class SuiteName : public ::testing::TestWithParam<std::string> {};                                            \
  TEST_P(SuiteName, Property) { ::symbreak::properties::expect_property(make_target(), GetParam()); }           \
  INSTANTIATE_TEST_SUITE_P(Catalogue, SuiteName, ::testing::ValuesIn(::symbreak::properties::property_names()), \
                           [](const ::testing::TestParamInfo<std::string>& info) {                              \
                             std::string name = info.param;                                                     \
                             for (char& ch : name)                                                              \
                               if (ch == '-') ch = '_';                                                         \
                             return name;                                                                       \
                           })
