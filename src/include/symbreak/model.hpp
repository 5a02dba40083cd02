// The reference transformer: ONE definition, evaluated in float, double or Exact.
//
// A nanoGPT-style decoder. Notation: B sequences of n tokens, N = B·n rows, d = d_model,
// H heads of width dh = d/H, F = d_ff, V = vocab_size.
//
//   x0 = E[tokens] (+ P[0..n))                                   (N, d)
//   for each block l:
//     a  = LN1(x) or x            qkv = a·W_qkv (+ unlearned biases)      (N, 3d)
//     att = softmax(scale·q kᵀ + mask) · v, per sequence and head     (N, d)
//     x  = [x +] att·W_O
//     m  = LN2(x) or x            x = [x +] act(m·W_fc)·W_proj
//   logits = (LNf(x) or x)·U                                        (N, V)
//
// The per-layer functions in layers.hpp do the work; forward() strings them together and keeps every
// intermediate in Activations, which the trainer's backward pass and the analyses both read.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "symbreak/arith.hpp"
#include "symbreak/config.hpp"
#include "symbreak/tensor.hpp"

namespace symbreak {

template <class T>
struct LayerWeights {
  Tensor<T> ln1_gain, ln1_bias;  // (1, d)
  // (d, 3d). Columns [0,d) make queries, [d,2d) keys, [2d,3d) values; within each, head h owns
  // columns [h·dh, (h+1)·dh).
  Tensor<T> w_qkv;
  Tensor<T> w_o;                 // (d, d). Rows [h·dh, (h+1)·dh) are head h's block.
  Tensor<T> ln2_gain, ln2_bias;  // (1, d)
  Tensor<T> w_fc;                // (d, F)
  Tensor<T> w_proj;              // (F, d)
};

template <class T>
struct Weights {
  Tensor<T> token_embedding;     // (V, d)
  Tensor<T> position_embedding;  // (context_length, d) with learned PE; empty otherwise
  std::vector<LayerWeights<T>> layers;
  Tensor<T> lnf_gain, lnf_bias;  // (1, d)
  Tensor<T> unembedding;         // (d, V)
};

// Unlearned biases of one layer, added to the projected queries, keys and values of each head.
// Each is (H, dh), or empty when absent. They are inputs, not parameters: the trainer redraws them.
template <class T>
struct AttentionBias {
  Tensor<T> query, key, value;
};

template <class T>
struct Model {
  ModelConfig config;
  Weights<T> weights;
  std::vector<AttentionBias<T>> unlearned_bias;  // [layers]
  Tensor<T> sinusoid;                            // (context_length, d), fixed table for sinusoidal PE
  T attention_scale{};                           // 1/sqrt(dh) in this arithmetic, or the configured scale
};

// Every parameter tensor with a stable name ("layers.0.w_qkv", ...), in a fixed order.
template <class T>
std::vector<std::pair<std::string, Tensor<T>*>> named_parameters(Weights<T>& weights);
template <class T>
std::vector<std::pair<std::string, const Tensor<T>*>> named_parameters(const Weights<T>& weights);

// Weights shaped for `config`, all zero.
template <class T>
Weights<T> zero_weights(const ModelConfig& config);

// Deterministic float32 weights from a seed, following config.init. Each tensor draws from its own
// stream keyed by (seed, tensor name), so adding a tensor never changes the others.
Weights<float> init_weights(const ModelConfig& config, std::uint64_t seed);

// Builds a model from a config and explicit weights (validated against the config's shapes).
// Throws ConfigError for an invalid config and std::invalid_argument for mis-shaped weights.
template <class T>
Model<T> make_model(const ModelConfig& config, Weights<T> weights);

// The same seed gives the same model in every arithmetic: float weights, converted exactly.
template <class T>
Model<T> make_model(const ModelConfig& config, std::uint64_t seed);

// Exact conversion of every weight and bias (float → double → Exact are exact).
template <class To, class From>
Model<To> convert_model(const Model<From>& model);

template <class T>
struct LayerActivations {
  Tensor<T> ln1, ln1_mean, ln1_rstd;  // (N, d), (N, 1), (N, 1). Empty without pre-LayerNorm.
  Tensor<T> qkv;                      // (N, 3d), after unlearned biases
  Tensor<T> att;                      // (B·H·n, n): softmax weights; row (b·H + h)·n + i
  Tensor<T> att_heads;                // (N, d): weighted values, heads side by side
  Tensor<T> att_proj;                 // (N, d): att_heads · W_O
  Tensor<T> resid_mid;                // (N, d): the stream after the attention sublayer
  Tensor<T> ln2, ln2_mean, ln2_rstd;  // (N, d), (N, 1), (N, 1). Empty without pre-LayerNorm or MLP.
  Tensor<T> fc;                       // (N, F): pre-activation
  Tensor<T> fc_act;                   // (N, F)
  Tensor<T> fc_gate;                  // (N, F): the GELU gate Φ(x) (or tanh gate), for the backward pass
  Tensor<T> mlp_out;                  // (N, d)
  Tensor<T> resid_out;                // (N, d): the stream after the block
};

template <class T>
struct Activations {
  int batch = 0, seq = 0;
  Tensor<T> embedded;  // (N, d): token plus position embedding
  std::vector<LayerActivations<T>> layers;
  Tensor<T> lnf, lnf_mean, lnf_rstd;  // empty without final LayerNorm
  Tensor<T> logits;                   // (N, V)

  // The residual stream entering block l (l = layers.size() gives the final stream).
  const Tensor<T>& stream(std::size_t l) const { return l == 0 ? embedded : layers[l - 1].resid_out; }
};

// Interventions during a forward pass (as activation patching does): after_block sees, and may
// modify, the residual stream (N, d) after block `layer`; later blocks and the logits use it.
template <class T>
struct ForwardHooks {
  std::function<void(int layer, Tensor<T>& stream)> after_block;
};

// Runs the model on `batch` sequences of `seq` tokens each (tokens is row-major, batch × seq).
// Fills every field of `acts`, reusing its storage. Throws std::invalid_argument for a token outside
// [0, vocab_size), seq outside [1, context_length], or a size mismatch.
template <class T>
void forward(const Model<T>& model, std::span<const int> tokens, int batch, int seq, Activations<T>& acts,
             const ForwardHooks<T>* hooks = nullptr);

// The same pass with the reference formula of every layer, never a fast path (layers.hpp): what the
// fast paths are tested against. float only.
template <class T>
void forward_reference(const Model<T>& model, std::span<const int> tokens, int batch, int seq, Activations<T>& acts);

// One sequence; returns the logits at every position, (n, V).
template <class T>
Tensor<T> forward_logits(const Model<T>& model, std::span<const int> tokens);

}  // namespace symbreak
