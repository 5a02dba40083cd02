// The op-level suite for your own attention kernel, in your own GoogleTest binary:
//
//   struct MyKernel { int operator()(const symbreak_attention_problem& p) const; };
//   SYMBREAK_ATTENTION_SUITE(MyKernelSuite, MyKernel);   // one test per op-level property
//
// Each failing property reports the element, the shrunk case and the line that replays it.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "symbreak/validate.hpp"

namespace symbreak {

inline std::vector<std::string> op_property_names() {
  std::vector<std::string> names;
  for (const auto& p : props::ops::op_catalogue()) names.emplace_back(p.name);
  return names;
}

// Runs one op-level property on a kernel callable and turns a failure into a GoogleTest failure.
template <class Impl>
void expect_op_property(const std::string& property, const std::string& name, ValidateOptions options = {}) {
  options.properties = {property};
  Impl impl;
  const OpReport report =
      validate([&impl](const symbreak_attention_problem& p) { return impl(p); }, options, name);
  for (const auto& v : report.verdicts)
    if (!v.passed())
      ADD_FAILURE() << v.property << " failed on " << v.shape << ": " << v.message << " at " << v.element.text()
                    << "\n  case: " << v.counterexample_dir << "\n  replay: " << v.replay;
}

}  // namespace symbreak

#define SYMBREAK_ATTENTION_SUITE(SuiteName, Impl)                                                          \
  class SuiteName : public ::testing::TestWithParam<std::string> {};                                       \
  TEST_P(SuiteName, Property) { ::symbreak::expect_op_property<Impl>(GetParam(), #Impl); }                 \
  INSTANTIATE_TEST_SUITE_P(OpLevel, SuiteName, ::testing::ValuesIn(::symbreak::op_property_names()),        \
                           [](const ::testing::TestParamInfo<std::string>& info) {                          \
                             std::string name = info.param;                                                 \
                             for (char& ch : name)                                                          \
                               if (ch == '-') ch = '_';                                                     \
                             return name;                                                                   \
                           })
