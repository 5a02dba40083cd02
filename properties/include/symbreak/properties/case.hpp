// A test case of the property suites: a model (architecture, weight seed, weight style) and a few
// probes (inputs plus the parameters of the transformation under test). Cases serialise to JSON for
// the failure database and for replay.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "symbreak/model.hpp"
#include "symbreak/permutation.hpp"

namespace symbreak::properties {

// How the weights are drawn. The generators shrink toward `ternary`, the simplest.
enum class WeightStyle {
  ternary,   // entries in {-1, 0, 1}·2^-k with 2^-k ≈ 1/√fan_in: small exact numbers
  gaussian,  // N(0, 1/fan_in) matrices, N(0, 1) embeddings, jittered LayerNorm
  extreme,   // gaussian with each tensor scaled by 2^±6: large and tiny magnitudes
  near_tie,  // gaussian with W_Q scaled by 2^-20: attention scores nearly tied
};
std::string_view to_string(WeightStyle style);

struct ModelSpec {
  ModelConfig config;
  std::uint32_t weight_seed = 0;
  WeightStyle style = WeightStyle::gaussian;
  // A user's function (function_target): only its declaration (mask, PE, depth, vocabulary) is
  // known; it has no weights, widths or heads of symbreak's to describe.
  bool opaque = false;
};

// The float32 weights of a spec (converted exactly into other arithmetics by make_model_from_spec).
Weights<float> spec_weights(const ModelSpec& spec);
template <class T>
Model<T> make_model_from_spec(const ModelSpec& spec);

// One input of a property and the parameters of its transformation. Each property reads the fields
// it needs (see catalogue.hpp).
struct Probe {
  std::vector<int> tokens;        // x
  Permutation sigma;              // a permutation of positions (or of heads, for HEADS)
  int position = 0;               // PREFIX: the changed position j; CAUSAL-DEPTH1: the prefix length i
  int replacement = 0;            // PREFIX: the new token at j
  int layer = 0, head = 0;        // per-head transformations
  std::vector<int> matrix;        // small integers defining an exact matrix or bias vector
  std::vector<int> other_tokens;  // BATCH: the second batch element
};

struct Case {
  ModelSpec model;
  std::vector<Probe> probes;
};

std::string case_to_json(const Case& c);
Case case_from_json(const std::string& text, const std::string& source);  // throws ConfigError

// One line: "L=2 H=1 d=2 n=3 ternary; x=[0 1 0] σ=[1 0 2]".
std::string describe(const Case& c, std::size_t probe);

}  // namespace symbreak::properties
