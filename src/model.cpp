#include "symbreak/model.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "symbreak/layers.hpp"
#include "symbreak/rng.hpp"

namespace symbreak {
namespace {

template <class WeightsT, class Tensors>
Tensors collect_parameters(WeightsT& w) {
  Tensors out;
  out.emplace_back("token_embedding", &w.token_embedding);
  if (w.position_embedding.size() > 0) out.emplace_back("position_embedding", &w.position_embedding);
  for (std::size_t l = 0; l < w.layers.size(); ++l) {
    auto& L = w.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    const auto add = [&](const char* name, auto& t) {
      if (t.size() > 0) out.emplace_back(p + name, &t);
    };
    add("ln1_gain", L.ln1_gain);
    add("ln1_bias", L.ln1_bias);
    add("w_qkv", L.w_qkv);
    add("w_o", L.w_o);
    add("ln2_gain", L.ln2_gain);
    add("ln2_bias", L.ln2_bias);
    add("w_fc", L.w_fc);
    add("w_proj", L.w_proj);
  }
  if (w.lnf_gain.size() > 0) {
    out.emplace_back("lnf_gain", &w.lnf_gain);
    out.emplace_back("lnf_bias", &w.lnf_bias);
  }
  out.emplace_back("unembedding", &w.unembedding);
  return out;
}

void require_shape(const std::string& name, int rows, int cols, int want_rows, int want_cols) {
  if (rows != want_rows || cols != want_cols)
    throw std::invalid_argument("weights: \"" + name + "\" is " + std::to_string(rows) + "x" + std::to_string(cols) +
                                ", the config needs " + std::to_string(want_rows) + "x" + std::to_string(want_cols));
}

}  // namespace

template <class T>
std::vector<std::pair<std::string, Tensor<T>*>> named_parameters(Weights<T>& weights) {
  return collect_parameters<Weights<T>, std::vector<std::pair<std::string, Tensor<T>*>>>(weights);
}
template <class T>
std::vector<std::pair<std::string, const Tensor<T>*>> named_parameters(const Weights<T>& weights) {
  return collect_parameters<const Weights<T>, std::vector<std::pair<std::string, const Tensor<T>*>>>(weights);
}

template <class T>
Weights<T> zero_weights(const ModelConfig& c) {
  validate_config(c);
  const int d = c.d_model;
  Weights<T> w;
  w.token_embedding = Tensor<T>(c.vocab_size, d);
  if (c.positional_encoding == PositionalEncoding::learned) w.position_embedding = Tensor<T>(c.context_length, d);
  w.layers.resize(c.layers);
  for (auto& L : w.layers) {
    if (c.layernorm) {
      L.ln1_gain = Tensor<T>(1, d);
      L.ln1_bias = Tensor<T>(1, d);
    }
    L.w_qkv = Tensor<T>(d, 3 * d);
    L.w_o = Tensor<T>(d, d);
    if (c.mlp) {
      if (c.layernorm) {
        L.ln2_gain = Tensor<T>(1, d);
        L.ln2_bias = Tensor<T>(1, d);
      }
      L.w_fc = Tensor<T>(d, c.d_ff);
      L.w_proj = Tensor<T>(c.d_ff, d);
    }
  }
  if (c.final_layernorm) {
    w.lnf_gain = Tensor<T>(1, d);
    w.lnf_bias = Tensor<T>(1, d);
  }
  w.unembedding = Tensor<T>(d, c.vocab_size);
  return w;
}

Weights<float> init_weights(const ModelConfig& c, std::uint64_t seed) {
  Weights<float> w = zero_weights<float>(c);
  const bool gpt2 = c.init == InitScheme::gpt2;
  // gpt2: nanoGPT's N(0, 0.02²), residual projections N(0, (0.02/√(2L))²), LayerNorm (1, 0).
  // scaled: N(0, 1/fan_in) matrices, N(0, 1) embeddings and a jittered LayerNorm, so activations are
  // of order one and every symmetry-breaking effect is large enough to see.
  const double residual_std = 0.02 / std::sqrt(2.0 * c.layers);
  for (auto& [name, tensor] : named_parameters(w)) {
    Rng rng(stream_seed(seed, name));
    const bool is_gain = name.ends_with("_gain"), is_bias = name.ends_with("_bias");
    double mean = 0, std = 0.02;
    if (is_gain || is_bias) {
      mean = is_gain ? 1.0 : 0.0;
      std = gpt2 ? 0.0 : 0.25;
    } else if (gpt2) {
      if (name.ends_with("w_o") || name.ends_with("w_proj")) std = residual_std;
    } else {
      std = name.ends_with("embedding") ? 1.0 : 1.0 / std::sqrt(static_cast<double>(tensor->rows));
    }
    for (auto& v : tensor->data) v = static_cast<float>(mean + std * rng.normal());
  }
  return w;
}

template <class T>
Model<T> make_model(const ModelConfig& config, Weights<T> weights) {
  validate_config(config);
  const Weights<T> reference = zero_weights<T>(config);
  const auto want = named_parameters(reference);
  const auto have = named_parameters(weights);
  if (want.size() != have.size())
    throw std::invalid_argument("weights: " + std::to_string(have.size()) + " tensors given, the config needs " +
                                std::to_string(want.size()));
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i].first != have[i].first)
      throw std::invalid_argument("weights: tensor \"" + have[i].first + "\" where the config needs \"" + want[i].first + "\"");
    require_shape(have[i].first, have[i].second->rows, have[i].second->cols, want[i].second->rows, want[i].second->cols);
  }
  Model<T> m;
  m.config = config;
  m.weights = std::move(weights);
  const int d = config.d_model, dh = config.d_head();
  m.attention_scale = config.attention_scale ? Arith<T>::from_double(*config.attention_scale) : Arith<T>::rsqrt(T(dh));
  if (config.positional_encoding == PositionalEncoding::sinusoidal) {
    m.sinusoid = Tensor<T>(config.context_length, d);
    for (int pos = 0; pos < config.context_length; ++pos)
      for (int i = 0; i < d; ++i) m.sinusoid(pos, i) = Arith<T>::sinusoid(pos, i - i % 2, d, i % 2 == 1);
  }
  m.unlearned_bias.resize(config.layers);
  for (std::size_t l = 0; l < config.unlearned_bias.size(); ++l) {
    const UnlearnedBiasSpec& spec = config.unlearned_bias[l];
    const auto fill = [&](const std::vector<std::vector<double>>& values, Tensor<T>& out) {
      if (values.empty()) return;
      out = Tensor<T>(config.heads, dh);
      for (int h = 0; h < config.heads; ++h)
        for (int c = 0; c < dh; ++c) out(h, c) = Arith<T>::from_double(values[h][c]);
    };
    fill(spec.query, m.unlearned_bias[l].query);
    fill(spec.key, m.unlearned_bias[l].key);
    fill(spec.value, m.unlearned_bias[l].value);
  }
  return m;
}

template <class T>
Model<T> make_model(const ModelConfig& config, std::uint64_t seed) {
  if constexpr (std::is_same_v<T, float>) return make_model<float>(config, init_weights(config, seed));
  else return convert_model<T>(make_model<float>(config, init_weights(config, seed)));
}

template <class To, class From>
Model<To> convert_model(const Model<From>& model) {
  const auto convert = [](const From& v) { return Arith<To>::from_double(Arith<From>::to_double(v)); };
  static_assert(!std::is_same_v<From, Exact> || std::is_same_v<To, Exact>,
                "converting from Exact would round; it is not offered");
  Weights<To> w = zero_weights<To>(model.config);
  auto to = named_parameters(w);
  const auto from = named_parameters(model.weights);
  for (std::size_t i = 0; i < to.size(); ++i) *to[i].second = tensor_cast<To>(*from[i].second, convert);
  Model<To> out = make_model<To>(model.config, std::move(w));
  for (std::size_t l = 0; l < model.unlearned_bias.size(); ++l) {
    out.unlearned_bias[l].query = tensor_cast<To>(model.unlearned_bias[l].query, convert);
    out.unlearned_bias[l].key = tensor_cast<To>(model.unlearned_bias[l].key, convert);
    out.unlearned_bias[l].value = tensor_cast<To>(model.unlearned_bias[l].value, convert);
  }
  return out;
}

namespace {

// The three layers that have a fast path, and which one each runs: with Fast, the fast path where
// one exists for T (float: layernorm, attention, GELU; double: attention), else the reference.
template <class T, bool Fast>
struct ForwardLayers {
  static constexpr bool kFloat = Fast && std::is_same_v<T, float>;
  static constexpr bool kFloatOrDouble = Fast && (std::is_same_v<T, float> || std::is_same_v<T, double>);
  static void layernorm(Tensor<T>& out, Tensor<T>& mean, Tensor<T>& rstd, const Tensor<T>& x, const Tensor<T>& gain,
                        const Tensor<T>& bias, const T& eps) {
    if constexpr (kFloat) fast::layernorm_forward(out, mean, rstd, x, gain, bias, eps);
    else layernorm_forward(out, mean, rstd, x, gain, bias, eps);
  }
  static void attention(Tensor<T>& out, Tensor<T>& att, const Tensor<T>& qkv, int batch, int seq, int heads, const T& scale,
                        const ModelConfig& c) {
    if constexpr (kFloatOrDouble) fast::attention_forward(out, att, qkv, batch, seq, heads, scale, c);
    else attention_forward(out, att, qkv, batch, seq, heads, scale, c);
  }
  static void activation(Tensor<T>& out, const Tensor<T>& in, Activation a, Tensor<T>* gate) {
    if constexpr (kFloat)
      if (a == Activation::gelu) return fast::gelu_forward(out, in, gate);
    activation_forward(out, in, a, gate);
  }
};

template <class T, bool Fast>
void forward_pass(const Model<T>& model, std::span<const int> tokens, int batch, int seq, Activations<T>& acts,
                  const ForwardHooks<T>* hooks) {
  using Layers = ForwardLayers<T, Fast>;
  const ModelConfig& c = model.config;
  const Weights<T>& w = model.weights;
  if (batch < 1 || seq < 1 || seq > c.context_length)
    throw std::invalid_argument("forward: sequence length " + std::to_string(seq) + " outside [1, " +
                                std::to_string(c.context_length) + "] or batch " + std::to_string(batch) + " < 1");
  if (tokens.size() != static_cast<std::size_t>(batch) * seq)
    throw std::invalid_argument("forward: " + std::to_string(tokens.size()) + " tokens for a batch of " + std::to_string(batch) +
                                "x" + std::to_string(seq));
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      throw std::invalid_argument("forward: token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                  " outside [0, " + std::to_string(c.vocab_size) + ")");
  const T eps = Arith<T>::from_double(c.layernorm_eps);
  acts.batch = batch;
  acts.seq = seq;

  // Embedding: (N) → (N, d)
  const Tensor<T>* positions = c.positional_encoding == PositionalEncoding::learned      ? &w.position_embedding
                               : c.positional_encoding == PositionalEncoding::sinusoidal ? &model.sinusoid
                                                                                         : nullptr;
  embedding_forward(acts.embedded, tokens, seq, w.token_embedding, positions);

  acts.layers.resize(c.layers);
  const Tensor<T>* x = &acts.embedded;
  for (int l = 0; l < c.layers; ++l) {
    const LayerWeights<T>& L = w.layers[l];
    LayerActivations<T>& a = acts.layers[l];
    // Attention sublayer: (N, d) → (N, 3d) → (N, d)
    const Tensor<T>* attn_in = x;
    if (c.layernorm) {
      Layers::layernorm(a.ln1, a.ln1_mean, a.ln1_rstd, *x, L.ln1_gain, L.ln1_bias, eps);
      attn_in = &a.ln1;
    }
    gemm(a.qkv, *attn_in, L.w_qkv);
    const AttentionBias<T>& bias = model.unlearned_bias[l];
    attention_bias_forward(a.qkv, c.heads, bias.query, bias.key, bias.value);
    Layers::attention(a.att_heads, a.att, a.qkv, batch, seq, c.heads, model.attention_scale, c);
    gemm(a.att_proj, a.att_heads, L.w_o);
    residual_forward(a.resid_mid, *x, a.att_proj, c.residual_attention_on(l));
    // MLP sublayer: (N, d) → (N, F) → (N, d)
    if (c.mlp) {
      const Tensor<T>* mlp_in = &a.resid_mid;
      if (c.layernorm) {
        Layers::layernorm(a.ln2, a.ln2_mean, a.ln2_rstd, a.resid_mid, L.ln2_gain, L.ln2_bias, eps);
        mlp_in = &a.ln2;
      }
      gemm(a.fc, *mlp_in, L.w_fc);
      Layers::activation(a.fc_act, a.fc, c.activation, &a.fc_gate);
      gemm(a.mlp_out, a.fc_act, L.w_proj);
      residual_forward(a.resid_out, a.resid_mid, a.mlp_out, c.residual_mlp_on(l));
    } else {
      a.resid_out = a.resid_mid;
    }
    if (hooks && hooks->after_block) hooks->after_block(l, a.resid_out);
    x = &a.resid_out;
  }

  // Head: (N, d) → (N, V)
  const Tensor<T>* head_in = x;
  if (c.final_layernorm) {
    Layers::layernorm(acts.lnf, acts.lnf_mean, acts.lnf_rstd, *x, w.lnf_gain, w.lnf_bias, eps);
    head_in = &acts.lnf;
  }
  gemm(acts.logits, *head_in, w.unembedding);
}

}  // namespace

template <class T>
void forward(const Model<T>& model, std::span<const int> tokens, int batch, int seq, Activations<T>& acts,
             const ForwardHooks<T>* hooks) {
  forward_pass<T, true>(model, tokens, batch, seq, acts, hooks);
}

template <class T>
void forward_reference(const Model<T>& model, std::span<const int> tokens, int batch, int seq, Activations<T>& acts) {
  forward_pass<T, false>(model, tokens, batch, seq, acts, nullptr);
}

template <class T>
Tensor<T> forward_logits(const Model<T>& model, std::span<const int> tokens) {
  Activations<T> acts;
  forward(model, tokens, 1, static_cast<int>(tokens.size()), acts);
  return std::move(acts.logits);
}

#define SYMBREAK_INSTANTIATE_MODEL(T)                                                                                 \
  template std::vector<std::pair<std::string, Tensor<T>*>> named_parameters<T>(Weights<T>&);                          \
  template std::vector<std::pair<std::string, const Tensor<T>*>> named_parameters<T>(const Weights<T>&);              \
  template Weights<T> zero_weights<T>(const ModelConfig&);                                                            \
  template Model<T> make_model<T>(const ModelConfig&, Weights<T>);                                                    \
  template Model<T> make_model<T>(const ModelConfig&, std::uint64_t);                                                 \
  template void forward<T>(const Model<T>&, std::span<const int>, int, int, Activations<T>&, const ForwardHooks<T>*); \
  template Tensor<T> forward_logits<T>(const Model<T>&, std::span<const int>);

SYMBREAK_INSTANTIATE_MODEL(float)
SYMBREAK_INSTANTIATE_MODEL(double)
SYMBREAK_INSTANTIATE_MODEL(Exact)
SYMBREAK_INSTANTIATE_MODEL(Expr)
template void forward_reference<float>(const Model<float>&, std::span<const int>, int, int, Activations<float>&);

template Model<float> convert_model<float, float>(const Model<float>&);
template Model<double> convert_model<double, float>(const Model<float>&);
template Model<Exact> convert_model<Exact, float>(const Model<float>&);
template Model<double> convert_model<double, double>(const Model<double>&);
template Model<Exact> convert_model<Exact, double>(const Model<double>&);
template Model<Exact> convert_model<Exact, Exact>(const Model<Exact>&);
template Model<Expr> convert_model<Expr, float>(const Model<float>&);

}  // namespace symbreak
