// Running the op-level suite on a kernel: for every property, the edge cases (robust properties,
// every supported mask mode) and then a RapidCheck search inside the kernel's declared region;
// failures are shrunk, simplified and saved as replayable case directories.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "symbreak/validate/kernel.hpp"
#include "symbreak/validate/properties.hpp"

namespace symbreak::validate {

struct ValidateOptions {
  std::vector<std::string> properties;  // empty: all (the backward ones when the kernel has a backward pass)
  int cases = 40;                       // generated cases per property (robust properties add the edge cases)
  std::uint64_t seed = 1;
  double time_budget = 0;  // seconds for the whole suite; 0 = none
  double shrink_seconds = 20;
  Tolerance tolerance;
  bool strict_determinism = false;  // DETERMINISM differences fail instead of warn
  bool forward_only = false;        // skip the backward properties even when the kernel has a backward
  bool fail_fast = false;           // stop at the first failing property (kill-rate measurements)
  // The edge cases are the same on every seed; a run over many seeds of one kernel may take them once.
  bool edge_cases = true;
  std::string failure_dir = ".symbreak/validate";  // counterexamples (.npy + case.json); empty: none
  std::function<void(const std::string& property, int done, int total)> progress;
};

enum class VerdictStatus { pass, fail, warning, not_applicable, not_run };
std::string_view to_string(VerdictStatus status);  // "pass", "FAIL", "warning", "n/a", "not run"

struct OpVerdict {
  std::string property;
  VerdictStatus status = VerdictStatus::pass;
  int cases = 0;                            // edge cases plus generated cases
  double worst_error = 0, worst_bound = 0;  // the case closest to (or past) its bound
  Element element;
  std::string message;
  std::string region;                // the mask modes the cases used
  std::vector<std::string> skipped;  // kinds of cases not run on this kernel, and why
  std::string counterexample_dir;    // saved .npy + case.json
  std::string replay;                // one line
  std::string shape;                 // the (shrunk) failing case
  // A backward failure on an input where the kernel's forward pass already fails REFERENCE: the
  // backward property may only be repeating the forward bug (fix the forward first).
  std::string inherited_from;        // "REFERENCE: <its message>", or empty
  double seconds = 0;
  bool passed() const { return status != VerdictStatus::fail; }
};

struct OpReport {
  std::string kernel;
  std::string capabilities;  // the region validated, in words
  std::uint64_t seed = 0;
  std::vector<OpVerdict> verdicts;
  double seconds = 0;
  bool passed() const;
};

OpReport run_suite(Kernel& kernel, const ValidateOptions& options);

// The suite on every seed of [first, last]: a kill rate for a buggy kernel, flakiness for a correct one.
struct SeedRun {
  std::uint64_t seed = 0;
  bool passed = true;
  double seconds = 0;
  std::vector<std::string> failing;  // the properties that failed on this seed
};
struct SeedsReport {
  std::vector<SeedRun> runs;
  std::vector<std::pair<std::string, int>> failures_by_property;  // seeds on which each property failed, in suite order
  std::optional<OpReport> first_failure;                          // the first failing seed's full report
  OpReport last;                                                  // the last seed's full report
  int seeds_passed() const;
  const OpReport& shown() const { return first_failure ? *first_failure : last; }
};
SeedsReport run_seeds(Kernel& kernel, ValidateOptions options, std::uint64_t first, std::uint64_t last,
                      const std::function<void(const SeedRun&)>& on_seed = {});
// "A-B" (A <= B) or "N" (1-N); throws std::invalid_argument naming the text.
std::pair<std::uint64_t, std::uint64_t> parse_seed_range(const std::string& text);

// Re-runs a saved counterexample (a directory of .npy files and case.json).
OpReport replay_case(Kernel& kernel, const std::string& dir, const ValidateOptions& options);

// A C++ callable validated in this process.
OpReport validate_callable(CallableKernel::Forward forward, const ValidateOptions& options = {},
                           const std::string& name = "callable", CallableKernel::Backward backward = {},
                           const Capabilities& caps = {});

}  // namespace symbreak::validate
