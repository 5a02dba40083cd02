// The symmetry catalogue. Each property is a short function with its mathematical statement above
// it. It evaluates the two sides of the statement on one probe and returns them as a Comparison;
// judge.hpp decides (exactly in Exact, with a tolerance derived from Exact in float).
//
// Notation: f is the subject, x a token sequence of length n (positions 0..n-1, so "tokens 1..n-1" of
// the papers are positions 0..n-2 and the last position is n-1), σ a permutation with
// (σx)_i = x_σ(i), f(x)_i the outputs (logits) at position i.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "symbreak/properties/case.hpp"
#include "symbreak/properties/subject.hpp"

namespace symbreak::properties {

// The two sides of a symmetry statement, both (rows, outputs). The statement claims actual == expected.
template <class T>
struct Comparison {
  Tensor<T> expected;     // what the symmetry says the output is
  Tensor<T> actual;       // what the subject computes after the transformation
  std::vector<int> rows;  // the position (or batch·n + position) that each row stands for
  std::string row_label = "position";
};

// EQUIV. Without mask and PE: f(σx) = σ·f(x) at every position, for every σ ∈ S_n.
template <class T>
Comparison<T> equivariance(const Subject<T>& f, const Probe& p);

// NEXT. Without mask and PE: f(σx)_{n-1} = f(x)_{n-1} for every σ fixing position n-1.
// (Also the comparison of CAUSAL-BREAKS and PE-BREAKS, which assert the opposite.)
template <class T>
Comparison<T> next_token_invariance(const Subject<T>& f, const Probe& p);

// CAUSAL-DEPTH1. Causal mask, no PE, one layer: for a permutation σ of positions 0..i-1,
// f(σx)_j = f(x)_j for every j ≥ i (position j attends to a multiset that σ leaves unchanged).
template <class T>
Comparison<T> causal_prefix_invariance(const Subject<T>& f, const Probe& p);

// PREFIX. Causal mask: changing token j leaves f(x)_i unchanged for every i < j.
template <class T>
Comparison<T> prefix_independence(const Subject<T>& f, const Probe& p);

// ROT-QK. For an orthogonal R (exact Cayley rotation in Exact), W_Q[h] → W_Q[h]·R, W_K[h] → W_K[h]·R
// leaves every logit unchanged: (qR)(kR)ᵀ = q kᵀ.
template <class T>
Comparison<T> rotate_query_key(const Subject<T>& f, const Probe& p);

// ROT-QK-GL. The general form: W_Q[h] → W_Q[h]·M, W_K[h] → W_K[h]·M^-ᵀ for any invertible M.
template <class T>
Comparison<T> transform_query_key(const Subject<T>& f, const Probe& p);

// ROT-VO. For orthogonal R, W_V[h] → W_V[h]·R and the head's block of W_O → Rᵀ·(block) leaves every
// logit unchanged: Σ_j a_ij v_j R Rᵀ W_O = Σ_j a_ij v_j W_O.
template <class T>
Comparison<T> rotate_value_output(const Subject<T>& f, const Probe& p);

// BIAS-KEY. Adding one vector b to every key of a head leaves the output unchanged:
// q·(k_j + b) = q·k_j + q·b, a shift common to the whole softmax row, which cancels.
template <class T>
Comparison<T> key_bias_cancels(const Subject<T>& f, const Probe& p);

// BIAS-QUERY-BREAKS. With a nonzero unlearned query bias b in a head, ROT-QK fails:
// (xW_Q R + b)(xW_K R)ᵀ = xW_Q W_Kᵀxᵀ + bRᵀW_Kᵀxᵀ ≠ the unrotated scores unless bR = b.
template <class T>
Comparison<T> query_bias_breaks_rotation(const Subject<T>& f, const Probe& p);

// BIAS-VALUE-BREAKS. With a nonzero unlearned value bias b, ROT-VO fails: the bias contributes
// bRᵀW_O instead of bW_O.
template <class T>
Comparison<T> value_bias_breaks_rotation(const Subject<T>& f, const Probe& p);

// HEADS. Permuting the heads of a layer (their W_Q, W_K, W_V columns, W_O rows and biases together)
// leaves the output unchanged: the heads' contributions are summed.
template <class T>
Comparison<T> head_permutation_invariance(const Subject<T>& f, const Probe& p);

// BATCH. Batch elements are independent: f([x; y]) = [f(x); f(y)].
template <class T>
Comparison<T> batch_independence(const Subject<T>& f, const Probe& p);

// Exact matrices from a probe's small integers (all-zero integers give the identity).
Tensor<Exact> probe_rotation(const Probe& p, int d_head);    // Cayley of a skew matrix with entries m/2
Tensor<Exact> probe_invertible(const Probe& p, int d_head);  // unit lower × upper triangular
std::vector<Exact> probe_bias(const Probe& p, int d_head);   // entries m/4, never all zero

// ---- The catalogue ---------------------------------------------------------------------------

enum class Expectation { holds, broken };

// What kind of probe a property needs (generators.hpp builds it).
enum class ProbeKind {
  permute_all,     // σ over all n positions
  permute_prefix,  // σ over positions 0..n-2
  permute_causal,  // σ over positions 0..i-1, i = position
  change_token,    // position j ≥ 1 and a replacement token
  rotation,        // layer, head, skew integers
  invertible,      // layer, head, triangular integers
  bias,            // layer, head, bias integers
  bias_rotation,   // layer, head, bias integers then skew integers
  heads,           // layer, σ over heads
  batch,           // a second sequence
};

// The architectures a property ranges over.
struct ArchitectureClass {
  std::vector<MaskKind> masks{MaskKind::none, MaskKind::causal};
  std::vector<PositionalEncoding> encodings{PositionalEncoding::none, PositionalEncoding::learned,
                                            PositionalEncoding::sinusoidal};
  int min_layers = 1, max_layers = 4;
  int min_length = 1;
  std::optional<bool> residual;  // pinned residual switches (all layers), or drawn per layer
  // Causal models only with one layer: then only a positional encoding can break last-position
  // invariance, so a witness really is the PE's.
  bool causal_single_layer = false;
};

// The largest architectures and sequences the generators produce. RapidCheck's size (0..100) scales
// them: early cases are small, later ones reach these limits.
struct SpaceLimits {
  int max_layers = 4, max_heads = 4, max_head_width = 8, max_length = 12;
  int vocab_size = 8;
};

// A property's comparison in each arithmetic (the same function template, instantiated three times).
struct Comparisons {
  Comparison<float> (*f32)(const Subject<float>&, const Probe&) = nullptr;
  Comparison<double> (*f64)(const Subject<double>&, const Probe&) = nullptr;
  Comparison<Exact> (*exact)(const Subject<Exact>&, const Probe&) = nullptr;
};

struct Property {
  std::string_view name;
  std::string_view statement;
  Expectation expectation = Expectation::holds;
  ProbeKind probe = ProbeKind::permute_all;
  ArchitectureClass architectures;
  bool weight_level = false;  // needs the model's weights (not available for opaque functions)
  Comparisons compare;
  // Whether a subject with this declaration is one the property is about.
  bool applies_to(const Declaration& d) const;
};

const std::vector<Property>& catalogue();
const Property& find_property(std::string_view name);  // throws std::invalid_argument listing the names

// Evaluates a property's comparison on one probe.
template <class T>
Comparison<T> evaluate(const Property& property, const Subject<T>& f, const Probe& p);

}  // namespace symbreak::properties
