// The op-level properties of an attention kernel, forward and backward:
//
//   O = softmax(scale · Q Kᵀ + mask) · V   per batch and head;  dQ, dK, dV = ∂L/∂(Q, K, V) given dO
//
// Every property compares kernel outputs; the tolerance comes from the exact reference E and the
// error that correct float32 kernels make (FlashAttention's rule; reference.hpp):
//
//   against E:     max|X − E| ≤ c · err_ref + atol,   c = 2, atol = atol_ulps · u32 · max(1, max|E|)
//   invariances:   max|X(x') − T(X(x))| ≤ c · (err_ref(x) + err_ref(x')) + 2·atol
//
// per output tensor (O, or each of dQ, dK, dV). A failure names the tensor and element.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "symbreak/validate/capabilities.hpp"
#include "symbreak/validate/kernel.hpp"

namespace symbreak::validate {

// How an input is transformed for an invariance, kept explicit so a case replays from its files.
struct Transform {
  std::vector<int> permutation;  // KV-PERM: keys; Q-PERM: queries; HEADS: heads; BATCH: batch items
  int position = 0;              // CAUSAL, BWD-CAUSAL: first changed row; MASK, BWD-MASK: the key row
  std::uint64_t seed = 0;        // new rows, shift vectors
};

struct OpCase {
  AttentionOp op;
  Transform transform;
};

// Where the largest violation is.
struct Element {
  std::string tensor;  // "O", "dQ", "dK", "dV"
  int batch = -1, head = -1, row = -1, col = -1;
  std::string text() const;  // "dK batch 0, head 1, row 3, column 2"
};

struct OpOutcome {
  bool passed = true;
  bool warning = false;  // DETERMINISM differences are warnings unless strict
  double error = 0;      // the checked deviation
  double bound = 0;      // what it had to stay within
  double ref_err = 0, atol = 0;
  Element element;
  std::string message;  // the failure in words
};

struct Tolerance {
  double c = 2.0;
  double atol_ulps = 4.0;  // atol = atol_ulps · 2^-24 · max(1, max|E|)
};

enum class Pass { forward, backward };

struct OpProperty {
  std::string_view name;
  std::string_view statement;
  Pass pass = Pass::forward;
  // The mask modes the property is about; its cases are drawn from these modes within the kernel's
  // region. When none is in the region the property is not applicable, because it `needs` ...
  std::vector<MaskMode> modes;
  std::string_view needs;
  bool robust = false;            // extreme values and sizes; the edge cases run first, in every mode
  bool needs_square = false;      // n_q == n_k
  bool full_mask_column = false;  // sometimes a key that no query may attend
  std::function<OpOutcome(Kernel&, const OpCase&, const Tolerance&, bool strict_determinism)> check;
  // Version-2 properties: the feature they are about ("align", "gqa", "window", "padding",
  // "empty-rows"); applicable only when the kernel declares it. Empty for the version-1 properties.
  std::string_view feature = {};
  // MASKED-INDEPENDENCE reads the kernel's declaration (masked-finite) itself, through the kernel.
};

const std::vector<OpProperty>& op_catalogue();

// --compare: kernels A and B on the same case (forward, or backward: dQ, dK, dV) agree within twice
// the per-element bound of the exact reference, since each correct kernel lies within that bound of
// the exact value. On a disagreement the message gives A, B and the exact value and says which of
// them is off it; a kernel that does not run the case is named as "A <name>" or "B <name>".
OpOutcome check_agreement(Kernel& a, Kernel& b, const OpCase& c, const Tolerance& t, bool backward);
const OpProperty& find_op_property(std::string_view name);  // throws std::invalid_argument with the names

// The transformed inputs of the invariances (used by the properties and by replay).
AttentionOp permute_keys(const AttentionOp& op, const std::vector<int>& perm);
AttentionOp permute_queries(const AttentionOp& op, const std::vector<int>& perm);
AttentionOp permute_heads(const AttentionOp& op, const std::vector<int>& perm);
AttentionOp permute_batch(const AttentionOp& op, const std::vector<int>& perm);
// Grouped heads: perm[h] is the old query head now at h, and must keep every group together (the
// KV heads move with their groups; a per-head mask moves with its head). Throws std::logic_error
// for a permutation that splits a group.
AttentionOp permute_grouped_heads(const AttentionOp& op, const std::vector<int>& perm);

}  // namespace symbreak::validate
