// The architecture of the reference transformer, and its strict JSON form.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace symbreak {

enum class PositionalEncoding { none, learned, sinusoidal };
enum class MaskKind { none, causal, explicit_mask };
enum class Activation { gelu, gelu_tanh, relu };
enum class InitScheme { gpt2, scaled };

std::string_view to_string(PositionalEncoding pe);
std::string_view to_string(MaskKind mask);
std::string_view to_string(Activation act);
std::string_view to_string(InitScheme init);

// Unlearned attention biases of one layer, added after the projections. Each is empty (absent) or
// holds one vector of length d_head per head: [head][d_head], values given as doubles and converted
// exactly into the model's arithmetic.
struct UnlearnedBiasSpec {
  std::vector<std::vector<double>> query, key, value;
};

struct ModelConfig {
  int vocab_size = 16;
  int context_length = 16;  // the longest sequence the model accepts
  int d_model = 16;
  int heads = 2;
  int layers = 2;
  int d_ff = 64;  // MLP hidden width
  PositionalEncoding positional_encoding = PositionalEncoding::none;
  MaskKind mask = MaskKind::none;
  // [context_length][context_length], true = query i may attend key j. Only with MaskKind::explicit_mask.
  std::vector<std::vector<bool>> explicit_mask;
  Activation activation = Activation::gelu;
  bool mlp = true;              // false: attention-only blocks
  bool layernorm = true;        // pre-LayerNorm before attention and before the MLP
  bool final_layernorm = true;  // LayerNorm before the unembedding
  double layernorm_eps = 1e-5;
  // Per layer: x + attn(x) (true) or attn(x) (false). Empty means on in every layer; otherwise the
  // size must equal `layers`.
  std::vector<bool> residual_attention;
  std::vector<bool> residual_mlp;
  std::optional<double> attention_scale;          // default 1/sqrt(d_head)
  std::vector<UnlearnedBiasSpec> unlearned_bias;  // empty, or [layers]
  InitScheme init = InitScheme::gpt2;

  int d_head() const { return d_model / heads; }
  bool residual_attention_on(int layer) const { return residual_attention.empty() || residual_attention[layer]; }
  bool residual_mlp_on(int layer) const { return residual_mlp.empty() || residual_mlp[layer]; }
};

// Thrown for invalid configurations. The message names the source, the field, the offending value
// and what is allowed, e.g.
//   config.json: "heads": 5 does not divide "d_model": 64 (allowed: a divisor of d_model)
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A config with every size and switch filled in, residuals on in every layer. Throws ConfigError.
ModelConfig make_config(int vocab_size, int context_length, int d_model, int heads, int layers);

// Checks every field; throws ConfigError naming the first bad one. `source` prefixes the message.
void validate_config(const ModelConfig& config, std::string_view source = "config");

// Strict JSON: unknown keys, wrong types, bad enum values and bad sizes are errors (ConfigError).
// Keys may be omitted; omitted keys take the defaults of ModelConfig (documented in README.md).
ModelConfig parse_config(std::string_view json_text, std::string_view source = "config");
ModelConfig load_config_file(const std::string& path);
std::string config_to_json(const ModelConfig& config);

// One line for tables and reports: "L=2 H=1 d=4 mask=causal PE=none LN mlp=gelu res=on" (res is on,
// off or mixed over the layers' residual connections).
std::string describe(const ModelConfig& config);

}  // namespace symbreak
