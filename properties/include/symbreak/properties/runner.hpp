// Running the catalogue: random search with RapidCheck (seeded, shrinking, RC_PARAMS honoured), a
// failure database replayed first on the next run, time caps on search and shrinking, statistics by
// architecture, and one-line replay commands.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "symbreak/properties/case.hpp"
#include "symbreak/properties/catalogue.hpp"
#include "symbreak/properties/judge.hpp"
#include "symbreak/properties/subject.hpp"

namespace symbreak::properties {

enum class Precision { f32, f64, exact };
std::string_view to_string(Precision arith);
Precision arith_from_string(std::string_view name);  // "f32", "f64", "exact"; throws std::invalid_argument

template <class T>
using SubjectFactory = std::function<std::shared_ptr<const Subject<T>>(const ModelSpec&)>;

// What the catalogue runs on. The reference target builds a subject from each generated model; a
// user target is one fixed subject (its `fixed` spec describes its sizes) and only probes vary.
// Floats are judged against the exact factory, or, without one, against the float64 factory.
struct Target {
  std::string name = "reference";
  SubjectFactory<float> f32;
  SubjectFactory<double> f64;
  SubjectFactory<Exact> exact;
  std::optional<ModelSpec> fixed;
  FaultSpec fault;  // recorded for replay commands
  bool has_weights = true;
};

// The reference model, optionally with a deliberate fault.
Target reference_target(FaultSpec fault = {});

// The verdict on one probe.
struct ProbeOutcome {
  bool symmetric = true;
  double deviation = 0;                     // max|actual - expected|
  double bound = 0, err_ref = 0, atol = 0;  // float: c·err_ref + atol
  bool rounding_outlier = false;            // past the calibrated bound, cleared by the exact reference
  int row = -1, col = -1;                   // where the deviation is largest
  std::string exact_difference;             // when asymmetric: the exact Δ there
  std::size_t exact_bits = 0;
};

// Checks probes of one property on one model in arithmetic T. In float, the first probe calibrates the
// reference error against Exact (κ = err_ref / (u·S)); later probes use κ·u·S, and any probe past
// that bound is re-judged with its own exact reference, so a true symmetry never fails.
template <class T>
class ProbeChecker {
 public:
  ProbeChecker(const Property& property, const Target& target, const ModelSpec& spec, const ToleranceRule& rule);
  ProbeOutcome check(const Probe& probe);
  const std::vector<int>& last_rows() const { return rows_; }
  const std::string& last_row_label() const { return row_label_; }

 private:
  Comparison<Exact> reference(const Probe& probe);
  const Property& property_;
  const Target& target_;
  ModelSpec spec_;
  ToleranceRule rule_;
  std::shared_ptr<const Subject<T>> subject_;
  std::shared_ptr<const Subject<Exact>> exact_;
  std::shared_ptr<const Subject<double>> f64_;
  bool calibrated_ = false;
  double kappa_ = 0;
  std::vector<int> rows_;
  std::string row_label_;
};

struct CheckOptions {
  std::vector<std::string> properties;  // empty: the whole catalogue
  std::vector<Precision> ariths{Precision::f32, Precision::f64, Precision::exact};
  std::optional<int> cases;           // models per property and arithmetic (default 100, or RC_PARAMS max_success)
  int probes = 4;                     // probes (inputs) per model
  std::optional<std::uint64_t> seed;  // default: RC_PARAMS seed, else random
  SpaceLimits limits;
  int max_size = 100;          // RapidCheck size limit (scales architectures)
  double search_seconds = 60;  // time cap on the search, per property and arithmetic
  double shrink_seconds = 30;  // time cap on shrinking
  bool shrink = true;
  std::string failure_dir = ".symbreak/failures";  // empty: no failure database
  ToleranceRule tolerance;
};

// A counterexample (an invariance that failed) or a witness (a symmetry shown broken), shrunk.
struct Finding {
  Case found;                    // the model and the one probe that shows it
  std::string element;           // "position 2, logit 5"
  double deviation = 0;          // |Δ| at that element (float), or the exact |Δ| as a double
  double bound = 0;              // the float bound it exceeded (0 in Exact)
  std::string exact_difference;  // the exact nonzero Δ = actual - expected at that element
  std::size_t exact_bits = 0;
  std::string saved_to;      // the failure-database file
  std::string replay;        // one line that replays it
  std::string rc_reproduce;  // RC_PARAMS value that replays RapidCheck's search
};

enum class Status { holds, broken_as_expected, violated, not_applicable, error };
std::string_view to_string(Status status);

struct Verdict {
  std::string property;
  Precision arith = Precision::exact;
  Expectation expectation = Expectation::holds;
  Status status = Status::holds;
  std::string target;
  int models = 0, cases = 0;  // models drawn and probes evaluated by the search
  int rounding_outliers = 0;  // float probes past the calibrated bound that the exact reference cleared
  bool time_capped = false, shrink_capped = false;
  // Evidence for invariances: the probe with the largest deviation relative to its bound.
  double max_deviation = 0, bound = 0, err_ref = 0, atol = 0, c = 0;
  std::optional<Finding> finding;
  std::map<std::string, int> classes;  // cases by architecture
  std::string note;
  double seconds = 0;
  std::uint64_t seed = 0;
  bool passed() const {
    return status == Status::holds || status == Status::broken_as_expected || status == Status::not_applicable;
  }
};

Verdict run_property(const Property& property, Precision arith, const Target& target, const CheckOptions& options);
std::vector<Verdict> run_check(const Target& target, const CheckOptions& options,
                               const std::function<void(const Verdict&)>& on_verdict = {});

// Re-evaluates one saved case (a failure-database file) and reports the verdict on it alone.
Verdict replay_file(const std::string& path, const CheckOptions& options);

// The seed actually used: --seed, else RC_PARAMS's seed, else a fresh random one.
std::uint64_t resolve_seed(const CheckOptions& options);

}  // namespace symbreak::properties
