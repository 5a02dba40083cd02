// The op-level checks behind the catalogue (properties.cpp): the helpers they share (checks.cpp),
// the forward checks (checks_forward.cpp) and the backward checks (checks_backward.cpp). Internal to
// the validator.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "symbreak/rng.hpp"
#include "symbreak/validate/properties.hpp"

namespace symbreak::validate::checks {

// The shapes of the tensors a property compares: O (n_q × d_v) or dQ (n_q × d_head), dK (n_k × d_head), dV (n_k × d_v).
struct TensorShape {
  const char* name;
  int rows, cols;
};
TensorShape shape_of(const AttentionOp& op, int t);
inline constexpr int kOutput = 3;  // shape_of(op, kOutput): the output O

// dQ, dK, dV (t = 0, 1, 2) of a backward call.
const std::vector<float>& gradient(const CallResult& r, int t);

// The bound of element i: fixed + atol_unit · max(floor, terms(i)). `fixed` is c·err_ref; the atol is
// a few ulps of the larger of the output's scale and the size of the terms that element sums, so a
// result that cancels to 0 from large terms is allowed the rounding of those terms.
struct ElementBound {
  double fixed = 0, atol_unit = 0, floor = 1;
  std::function<double(std::size_t)> terms;  // empty: the floor alone
  double atol(std::size_t i) const { return atol_unit * std::max(floor, terms ? terms(i) : 0.0); }
  double at(std::size_t i) const { return fixed + atol(i); }
};

struct Poison {
  const char* what;
  bool in_k, in_v;
  float value;
  bool finite;  // also run when the kernel declares masked-finite
};
inline constexpr Poison kPoisons[] = {{"+1e30 in K", true, false, 1e30f, true},
                                      {"-1e30 in K", true, false, -1e30f, true},
                                      {"1e30 in V", false, true, 1e30f, true},
                                      {"NaN in K and V", true, true, std::numeric_limits<float>::quiet_NaN(), false},
                                      {"NaN in V", false, true, std::numeric_limits<float>::quiet_NaN(), false},
                                      {"+3e38 in K (scores overflow)", true, false, 3e38f, false},
                                      {"-3e38 in K (scores overflow)", true, false, -3e38f, false}};

bool same_bits(float a, float b);
// Element `index` of a [batch][heads][rows][cols] tensor, named for reports.
Element element_at(const AttentionOp& op, int rows, int cols, std::size_t index, std::string tensor);
// A call that did not produce a result, with what the kernel may have forgotten to declare.
OpOutcome call_failed(const CallResult& r, const AttentionOp& op);
ElementBound bound_against_reference(const Tolerance& t, double err, double scale, const std::vector<double>& terms, double unit);
// `actual` against `expected` over the selected indices of tensor t, each element against its bound.
OpOutcome compare(const AttentionOp& op, int t, const std::vector<float>& actual, const std::vector<double>& expected,
                  const std::vector<std::size_t>& indices, const ElementBound& bound, const std::string& what);
OpOutcome worse(const OpOutcome& a, const OpOutcome& b);
std::vector<std::size_t> all_indices(std::size_t n);
std::size_t flat(int heads, int rows, int cols, int b, int h, int r, int c);
std::vector<std::size_t> rows_where(const AttentionOp& op, int rows, int cols, const std::function<bool(int)>& keep);
void redraw_rows(std::vector<float>& x, int batch_heads, int rows, int cols, Rng& rng, const std::function<bool(int)>& changed,
                 Dtype dtype);
AttentionOp replace_key_rows(const AttentionOp& op, std::uint64_t seed, const std::function<bool(int)>& changed);
std::size_t index_before_head_permutation(std::size_t i, const std::vector<int>& perm, std::size_t per_head);

// ---- The checks: (kernel, case, tolerance, strict) → outcome --------------------------------------
OpOutcome check_reference(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_kv_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_q_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_causal(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_mask(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_convex(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_heads(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_gqa_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_batch(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_determinism(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_bwd_determinism(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_masked_independence(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_bwd_reference(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_bwd_causal(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_bwd_gqa_perm(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_bwd_mask(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_bwd_rowsum(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);
OpOutcome check_padding(Kernel& f, const OpCase& c, const Tolerance& t, bool strict);

}  // namespace symbreak::validate::checks
