// The op-level suite for your own attention kernel, in your own GoogleTest binary:
//
//   struct MyKernel {
//     int operator()(const symbreak_attention_problem& p) const;                // required
//     int backward(const symbreak_attention_backward_problem& p) const;         // optional
//     static symbreak::validate::Capabilities capabilities();                   // optional (default: everything)
//   };
//   SYMBREAK_ATTENTION_SUITE(MyKernelSuite, MyKernel);   // one test per op-level property
//
// Each failing property reports the element, the shrunk case and the line that replays it; a
// property outside the kernel's declared region is reported as skipped.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "symbreak/validate/validate.hpp"

namespace symbreak::validate {

inline std::vector<std::string> op_property_names() {
  std::vector<std::string> names;
  for (const auto& p : op_catalogue()) names.emplace_back(p.name);
  return names;
}

template <class Impl>
Capabilities capabilities_of() {
  if constexpr (requires { Impl::capabilities(); }) return Impl::capabilities();
  else return {};
}

// Runs one op-level property on a kernel type and turns a failure into a GoogleTest failure.
template <class Impl>
void expect_op_property(const std::string& property, const std::string& name, ValidateOptions options = {}) {
  options.properties = {property};
  Impl impl;
  CallableKernel::Backward backward;
  if constexpr (requires(const symbreak_attention_backward_problem& b) { impl.backward(b); })
    backward = [&impl](const symbreak_attention_backward_problem& b) { return impl.backward(b); };
  CallableKernel kernel(
      name, [&impl](const symbreak_attention_problem& p) { return impl(p); }, backward, capabilities_of<Impl>());
  const OpReport report = run_suite(kernel, options);
  for (const auto& v : report.verdicts) {
    if (v.status == VerdictStatus::not_applicable) GTEST_SKIP() << v.property << ": " << v.message;
    if (!v.passed())
      ADD_FAILURE() << v.property << " failed on " << v.shape << ": " << v.message << " at " << v.element.text()
                    << "\n  case: " << v.counterexample_dir << "\n  replay: " << v.replay;
  }
}

}  // namespace symbreak::validate

#define SYMBREAK_ATTENTION_SUITE(SuiteName, Impl)                                                              \
  class SuiteName : public ::testing::TestWithParam<std::string> {};                                           \
  TEST_P(SuiteName, Property) { ::symbreak::validate::expect_op_property<Impl>(GetParam(), #Impl); }           \
  INSTANTIATE_TEST_SUITE_P(OpLevel, SuiteName, ::testing::ValuesIn(::symbreak::validate::op_property_names()), \
                           [](const ::testing::TestParamInfo<std::string>& info) {                             \
                             std::string name = info.param;                                                    \
                             for (char& ch : name)                                                             \
                               if (ch == '-') ch = '_';                                                        \
                             return name;                                                                      \
                           })
