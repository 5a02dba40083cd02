// Op-level properties of attention kernels, for `symbreak validate` and symbreak::validate():
//
//   O = softmax(scale · Q Kᵀ + mask) · V   per batch and head  (attention_op.hpp)
//
// Every property compares kernel outputs; the tolerance comes from the exact reference E and the
// error that correct float32 kernels make (FlashAttention's rule):
//
//   REFERENCE:    max|O − E| ≤ c · err_ref + atol,   c = 2, atol = atol_ulps · u32 · max(1, max|E|)
//   invariances:  max|O(x') − T(O(x))| ≤ c · (err_ref(x) + err_ref(x')) + 2·atol
//
// err_ref = max|N − E| over a panel N of float32 kernels: naive (scale after the dot product), q
// pre-scaled, √scale on both q and k, and an online softmax (attention_ops.cpp).
//
// A failure names the element (batch, head, row, column), and the search shrinks the case.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "symbreak/attention_op.hpp"

namespace symbreak::props::ops {

// What the kernel under test did with one op.
struct CallResult {
  enum class Status {
    ok,
    returned_error,   // symbreak_attention_forward returned nonzero
    crashed,          // the process died (signal or exit)
    timed_out,        // per-case timeout
    load_error,       // library, symbol or ABI version problem (reported for every case)
    guard_violation,  // wrote outside `out`, or modified an input
    bad_output,       // exec protocol: missing, malformed or wrongly shaped out.npy, or an error line
  };
  Status status = Status::ok;
  std::string message;  // "SIGSEGV", "returned 3", "wrote 2 floats after out", ...
  std::vector<float> out;
  bool ok() const { return status == Status::ok; }
};
std::string_view to_string(CallResult::Status status);

// Shapes a kernel cannot express. MultiheadAttention needs d_v == d_head; PyTorch 1.13's attention
// takes no scale, so it always uses 1/sqrt(d_head). Cases are generated within these limits.
struct KernelLimits {
  bool dv_equals_dhead = false;
  bool default_scale = false;
};

// The implementation under test.
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual CallResult run(const AttentionOp& op) = 0;
  virtual std::string name() const = 0;
  // Flags that select this kernel again on the command line, for replay lines ("--plugin x.so").
  virtual std::string cli_flags() const = 0;
  virtual KernelLimits limits() const { return {}; }
};

// An op's buffers laid out in one arena, each input between NaN guard regions (an out-of-bounds read
// turns the output into NaN) and `out` between canaries (an out-of-bounds write is seen after the
// call). Offsets count floats from the arena's start; the mask occupies whole floats.
struct GuardedLayout {
  static constexpr std::size_t kGuard = 64;  // floats on each side of every buffer
  std::size_t q = 0, k = 0, v = 0, mask = 0, out = 0, total = 0;
  std::size_t mask_floats = 0;
  explicit GuardedLayout(const AttentionOp& op);
};
// Fills the arena: guards, inputs, and `out` pre-filled with the canary.
void fill_guarded(float* arena, const GuardedLayout& layout, const AttentionOp& op);
// After a call: "" if every guard, canary and input is intact, else what was touched.
std::string check_guarded(const float* arena, const GuardedLayout& layout, const AttentionOp& op);
// A problem pointing into the arena.
symbreak_attention_problem guarded_problem(float* arena, const GuardedLayout& layout, const AttentionOp& op);

// A kernel that is a C++ callable running in this process (with the same guards).
class CallableKernel final : public Kernel {
 public:
  using Function = std::function<int(const symbreak_attention_problem&)>;
  CallableKernel(std::string name, Function f, std::string cli_flags = "")
      : name_(std::move(name)), f_(std::move(f)), flags_(std::move(cli_flags)) {}
  CallResult run(const AttentionOp& op) override;
  std::string name() const override { return name_; }
  std::string cli_flags() const override { return flags_; }

 private:
  std::string name_;
  Function f_;
  std::string flags_;
};

// How an input is transformed for an invariance, kept explicit so a case replays from its files.
struct Transform {
  std::vector<int> permutation;  // KV-PERM: keys; Q-PERM: queries; HEADS: heads; BATCH: batch items
  int position = 0;              // CAUSAL: first changed key row; MASK: the changed key row
  std::uint64_t seed = 0;        // CAUSAL / MASK: new K, V rows; CONVEX: the shift vector
};

struct OpCase {
  AttentionOp op;
  Transform transform;
};

// Where the largest violation is.
struct Element {
  int batch = -1, head = -1, row = -1, col = -1;
  std::string text() const;  // "batch 0, head 1, row 3, column 2"
};

struct OpOutcome {
  bool passed = true;
  bool warning = false;       // DETERMINISM differences are warnings unless strict
  double error = 0;           // the checked deviation
  double bound = 0;           // what it had to stay within
  double ref_err = 0, atol = 0;
  Element element;
  std::string message;        // the failure in words
};

struct Tolerance {
  double c = 2.0;
  double atol_ulps = 4.0;  // atol = atol_ulps · 2^-24 · max(1, max|E|)
};

// The catalogue. Each property evaluates one case and says whether it holds.
struct OpProperty {
  std::string_view name;
  std::string_view statement;
  // Case constraints for the generators.
  bool allow_mask = true, allow_causal = true, robust_values = false;
  bool needs_square = false;  // n_q == n_k
  bool force_causal = false, force_mask = false;
  std::function<OpOutcome(Kernel&, const OpCase&, const Tolerance&, bool strict_determinism)> check;
};

const std::vector<OpProperty>& op_catalogue();
const OpProperty& find_op_property(std::string_view name);  // throws std::invalid_argument with the names

// The transformed input of an invariance (used by the properties and by replay).
AttentionOp permute_keys(const AttentionOp& op, const std::vector<int>& perm);
AttentionOp permute_queries(const AttentionOp& op, const std::vector<int>& perm);
AttentionOp permute_heads(const AttentionOp& op, const std::vector<int>& perm);
AttentionOp permute_batch(const AttentionOp& op, const std::vector<int>& perm);

// ---- Running the suite ------------------------------------------------------------------------

struct ValidateOptions {
  std::vector<std::string> properties;  // empty: all
  int cases = 40;                       // generated cases per property (ROBUST adds fixed edge cases)
  std::uint64_t seed = 1;
  double time_budget = 0;               // seconds for the whole suite; 0 = none
  double shrink_seconds = 20;
  Tolerance tolerance;
  bool strict_determinism = false;      // DETERMINISM differences fail instead of warn
  std::string failure_dir = ".symbreak/validate";  // counterexamples (.npy + case.json); empty: none
  std::function<void(const std::string& property, int done, int total)> progress;
};

struct OpVerdict {
  std::string property;
  std::string status;  // "pass", "FAIL", "warning", "skipped"
  int cases = 0;
  double worst_error = 0, worst_bound = 0;  // the case closest to (or past) its bound
  Element element;
  std::string message;
  std::string counterexample_dir;  // saved .npy + case.json
  std::string replay;              // one line
  std::string shape;               // the (shrunk) failing case
  double seconds = 0;
  bool passed() const { return status == "pass" || status == "warning" || status == "skipped"; }
};

struct OpReport {
  std::string kernel;
  std::uint64_t seed = 0;
  std::vector<OpVerdict> verdicts;
  double seconds = 0;
  bool passed() const;
};

OpReport run_op_suite(Kernel& kernel, const ValidateOptions& options);

// Re-runs a saved counterexample (a directory of .npy files and case.json).
OpReport replay_op_case(Kernel& kernel, const std::string& dir, const ValidateOptions& options);

// Writes an op and its case.json (causal, scale, and for counterexamples the property and transform)
// into a directory, atomically per file. The layout is the exec protocol's.
void write_case_dir(const std::string& dir, const AttentionOp& op, const std::string& extra_json = "{}");
// Reads q.npy, k.npy, v.npy, optional mask.npy and case.json; throws std::invalid_argument naming the
// file and the problem.
OpCase read_case_dir(const std::string& dir, std::string* property = nullptr);

std::string op_report_json(const OpReport& report);
std::string op_report_junit(const OpReport& report);
std::string op_report_html(const OpReport& report);
void print_op_report(std::ostream& out, const OpReport& report);

}  // namespace symbreak::props::ops
