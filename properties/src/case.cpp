#include "symbreak/properties/case.hpp"

#include <cmath>
#include <sstream>

#include "symbreak/json_reader.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::properties {

using nlohmann::json;

namespace {
constexpr std::string_view kStyles[] = {"ternary", "gaussian", "extreme", "near_tie"};

std::string list(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return s + "]";
}
}  // namespace

std::string_view to_string(WeightStyle style) { return kStyles[static_cast<int>(style)]; }

Weights<float> spec_weights(const ModelSpec& spec) {
  ModelConfig config = spec.config;
  config.init = InitScheme::scaled;
  Weights<float> w = init_weights(config, spec.weight_seed);
  if (spec.style == WeightStyle::gaussian) return w;
  Rng rng(stream_seed(spec.weight_seed, "style"));
  for (auto& [name, tensor] : named_parameters(w)) {
    const bool layernorm = name.ends_with("_gain") || name.ends_with("_bias");
    switch (spec.style) {
      case WeightStyle::ternary: {
        if (layernorm) {
          for (auto& v : tensor->data) v = name.ends_with("_gain") ? 1.0f : 0.0f;
          break;
        }
        const bool embedding = name.ends_with("embedding");
        const float step = embedding ? 1.0f : std::ldexp(1.0f, -static_cast<int>(std::lround(0.5 * std::log2(tensor->rows))));
        for (auto& v : tensor->data) {
          const double z = embedding ? v : v * std::sqrt(static_cast<double>(tensor->rows));
          v = step * static_cast<float>(z > 0.5 ? 1 : z < -0.5 ? -1 : 0);
        }
        break;
      }
      case WeightStyle::extreme: {
        if (layernorm) break;
        const float scale = std::ldexp(1.0f, rng.below(2) ? 6 : -6);
        for (auto& v : tensor->data) v *= scale;
        break;
      }
      case WeightStyle::near_tie: {
        if (!name.ends_with("w_qkv")) break;
        const int d = tensor->rows;  // queries are the first d columns
        for (int r = 0; r < tensor->rows; ++r)
          for (int c = 0; c < d; ++c) (*tensor)(r, c) *= std::ldexp(1.0f, -20);
        break;
      }
      case WeightStyle::gaussian: break;
    }
  }
  return w;
}

template <class T>
Model<T> make_model_from_spec(const ModelSpec& spec) {
  Model<float> m = make_model<float>(spec.config, spec_weights(spec));
  if constexpr (std::is_same_v<T, float>) return m;
  else return convert_model<T>(m);
}
template Model<float> make_model_from_spec<float>(const ModelSpec&);
template Model<double> make_model_from_spec<double>(const ModelSpec&);
template Model<Exact> make_model_from_spec<Exact>(const ModelSpec&);

std::string case_to_json(const Case& c) {
  json j;
  j["model"] = json::parse(config_to_json(c.model.config));
  j["weight_seed"] = c.model.weight_seed;
  j["weight_style"] = to_string(c.model.style);
  j["probes"] = json::array();
  for (const Probe& p : c.probes) {
    json q;
    q["tokens"] = p.tokens;
    q["sigma"] = p.sigma;
    q["position"] = p.position;
    q["replacement"] = p.replacement;
    q["layer"] = p.layer;
    q["head"] = p.head;
    q["matrix"] = p.matrix;
    q["other_tokens"] = p.other_tokens;
    j["probes"].push_back(q);
  }
  return j.dump(2);
}

Case case_from_json(const std::string& text, const std::string& source) {
  const json j = parse_json_text(text, source);
  StrictObject o(j, source, "");
  Case c;
  const json* model = o.get("model");
  if (!model) o.fail("model", "is required");
  c.model.config = parse_config_object(*model, source, "model");
  c.model.weight_seed = static_cast<std::uint32_t>(o.integer("weight_seed", 0, 0, 0xFFFFFFFFll));
  c.model.style = static_cast<WeightStyle>(o.choice("weight_style", 1, {kStyles[0], kStyles[1], kStyles[2], kStyles[3]}));
  const json* probes = o.get("probes");
  if (!probes || !probes->is_array() || probes->empty()) o.fail("probes", "must be a non-empty array");
  for (std::size_t i = 0; i < probes->size(); ++i) {
    StrictObject p((*probes)[i], source, "probes[" + std::to_string(i) + "]");
    Probe probe;
    const auto ints = [&](const char* key, std::vector<int>& out) {
      const json* v = p.get(key);
      if (!v) return;
      if (!v->is_array()) p.fail(key, "must be an array of integers");
      for (const auto& x : *v) {
        if (!x.is_number_integer()) p.fail(key, "must be an array of integers");
        out.push_back(x.get<int>());
      }
    };
    ints("tokens", probe.tokens);
    ints("sigma", probe.sigma);
    ints("matrix", probe.matrix);
    ints("other_tokens", probe.other_tokens);
    probe.position = static_cast<int>(p.integer("position", 0, 0, 1 << 20));
    probe.replacement = static_cast<int>(p.integer("replacement", 0, 0, 1 << 20));
    probe.layer = static_cast<int>(p.integer("layer", 0, 0, 1 << 20));
    probe.head = static_cast<int>(p.integer("head", 0, 0, 1 << 20));
    p.finish();
    for (int t : probe.tokens)
      if (t < 0 || t >= c.model.config.vocab_size) p.fail("tokens", "has a token outside [0, vocab_size)");
    if (!probe.sigma.empty() && !is_permutation(probe.sigma)) p.fail("sigma", "is not a permutation");
    c.probes.push_back(std::move(probe));
  }
  o.finish();
  return c;
}

std::string describe(const Case& c, std::size_t probe) {
  std::ostringstream s;
  const ModelConfig& m = c.model.config;
  if (c.model.opaque) {
    s << "declared L=" << m.layers << " mask=" << to_string(m.mask) << " PE=" << to_string(m.positional_encoding)
      << " vocab=" << m.vocab_size;
  } else {
    s << symbreak::describe(m);
  }
  if (probe < c.probes.size()) {
    const Probe& p = c.probes[probe];
    s << " n=" << p.tokens.size();
    if (!c.model.opaque) s << " " << to_string(c.model.style) << " weights (seed " << c.model.weight_seed << ")";
    s << "; x=" << list(p.tokens);
    if (!p.sigma.empty()) s << " σ=" << list(p.sigma);
  }
  return s.str();
}

}  // namespace symbreak::properties
