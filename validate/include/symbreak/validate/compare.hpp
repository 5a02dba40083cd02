// symbreak validate --compare A B: one spec, two kernels. Both run every case of the reference
// properties (REFERENCE, ROBUST and the version-2 feature properties, and their backward twins when
// both have a backward pass) inside the region both declare; the first case where their outputs
// differ by more than the sum of their bounds against the exact reference is shrunk, saved and named,
// with A's, B's and the exact value and which of them is off (a cross-backend report: two backends that
// share a convention agree with each other; the exact reference says which convention is the op's).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "symbreak/validate/kernel.hpp"
#include "symbreak/validate/suite.hpp"

namespace symbreak::validate {

// The region inside both: a case in it is inside each kernel's declared region.
Capabilities common_region(const Capabilities& a, const Capabilities& b);

struct CompareReport {
  std::string a, b;       // the kernels' names
  std::string region;     // common_region(...).text()
  int cases = 0;          // cases both kernels ran
  double seconds = 0;
  std::vector<std::string> properties;  // whose cases were run, in order
  struct Disagreement {
    std::string property;  // whose case generator found it
    std::string shape;     // the shrunk case
    Element element;
    double difference = 0, bound = 0;  // |A − B| and the sum of both bounds
    std::string message;               // A, B, exact, and which is off
    std::string counterexample_dir;    // empty when not saved
    std::string replay_a, replay_b;    // each kernel alone on the saved case
  };
  std::optional<Disagreement> disagreement;
  bool agreed() const { return !disagreement; }
};

// Runs the cases of o.properties (empty: every reference property) on both kernels; stops at the
// first disagreement. o.cases, o.seed, o.tolerance, o.forward_only, o.edge_cases, o.shrink_seconds,
// o.time_budget and o.failure_dir apply as in run_suite.
CompareReport compare_kernels(Kernel& a, Kernel& b, const ValidateOptions& o);
void print_compare(std::ostream& out, const CompareReport& report);

}  // namespace symbreak::validate
