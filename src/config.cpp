#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "symbreak/config.hpp"
#include "symbreak/json_reader.hpp"

namespace symbreak {

using nlohmann::json;

namespace {

constexpr std::string_view kPositionalEncodings[] = {"none", "learned", "sinusoidal"};
constexpr std::string_view kMasks[] = {"none", "causal", "explicit"};
constexpr std::string_view kActivations[] = {"gelu", "gelu_tanh", "relu"};
constexpr std::string_view kInits[] = {"gpt2", "scaled"};

// Upper limits keep absurd configs from exhausting memory instead of failing cleanly.
constexpr int kMaxVocab = 1 << 20, kMaxContext = 1 << 16, kMaxWidth = 1 << 16, kMaxLayers = 1024, kMaxFf = 1 << 18;

std::string join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (auto item : items) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

[[noreturn]] void config_fail(std::string_view source, const std::string& message) {
  throw ConfigError(std::string(source) + ": " + message);
}

std::vector<bool> parse_switches(StrictObject& obj, std::string_view key, int layers) {
  const json* v = obj.get(key);
  if (!v) return {};
  if (v->is_boolean()) return std::vector<bool>(layers, v->get<bool>());
  if (!v->is_array())
    obj.fail(key, "must be true, false or an array of " + std::to_string(layers) + " booleans (one per layer), got " +
                      json_excerpt(*v));
  if (static_cast<int>(v->size()) != layers)
    obj.fail(key, "has " + std::to_string(v->size()) + " entries, \"layers\" is " + std::to_string(layers) +
                      " (allowed: one boolean per layer)");
  std::vector<bool> out;
  for (std::size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_boolean()) obj.fail(key, "entry " + std::to_string(i) + " must be a boolean, got " + json_excerpt((*v)[i]));
    out.push_back((*v)[i].get<bool>());
  }
  return out;
}

std::vector<std::vector<double>> parse_bias(StrictObject& obj, std::string_view key) {
  const json* v = obj.get(key);
  if (!v) return {};
  std::vector<std::vector<double>> out;
  if (!v->is_array()) obj.fail(key, "must be an array [heads][d_head] of numbers, got " + json_excerpt(*v));
  for (const auto& head : *v) {
    if (!head.is_array()) obj.fail(key, "must be an array [heads][d_head] of numbers, got " + json_excerpt(head));
    std::vector<double> row;
    for (const auto& x : head) {
      if (!x.is_number()) obj.fail(key, "entries must be numbers, got " + json_excerpt(x));
      row.push_back(x.get<double>());
    }
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace

std::string_view to_string(PositionalEncoding pe) { return kPositionalEncodings[static_cast<int>(pe)]; }
std::string_view to_string(MaskKind mask) { return kMasks[static_cast<int>(mask)]; }
std::string_view to_string(Activation act) { return kActivations[static_cast<int>(act)]; }
std::string_view to_string(InitScheme init) { return kInits[static_cast<int>(init)]; }

// ---- StrictObject ------------------------------------------------------------------------------

std::string json_excerpt(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

StrictObject::StrictObject(const json& object, std::string source, std::string path)
    : object_(object), source_(std::move(source)), path_(std::move(path)) {
  if (!object_.is_object())
    config_fail(source_, (path_.empty() ? std::string("the top level") : "\"" + path_ + "\"") + " must be a JSON object, got " +
                             json_excerpt(object_));
}

std::string StrictObject::field(std::string_view key) const {
  return "\"" + (path_.empty() ? std::string(key) : path_ + "." + std::string(key)) + "\"";
}

void StrictObject::fail(std::string_view key, const std::string& what) const {
  config_fail(source_, field(key) + (has(key) ? ": " + json_excerpt(value(key)) : std::string()) + " " + what);
}

bool StrictObject::has(std::string_view key) const { return object_.contains(key); }

const json& StrictObject::value(std::string_view key) const { return object_.at(std::string(key)); }

const json* StrictObject::get(std::string_view key) {
  known_.insert(std::string(key));
  return has(key) ? &value(key) : nullptr;
}

std::optional<std::int64_t> StrictObject::optional_integer(std::string_view key, std::int64_t min, std::int64_t max) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer())
    fail(key, "must be an integer (allowed: " + std::to_string(min) + " to " + std::to_string(max) + ")");
  std::int64_t x;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(key, "is out of range (allowed: " + std::to_string(min) + " to " + std::to_string(max) + ")");
    x = static_cast<std::int64_t>(u);
  } else {
    x = v->get<std::int64_t>();
  }
  if (x < min || x > max) fail(key, "is out of range (allowed: " + std::to_string(min) + " to " + std::to_string(max) + ")");
  return x;
}

std::int64_t StrictObject::integer(std::string_view key, std::int64_t fallback, std::int64_t min, std::int64_t max) {
  return optional_integer(key, min, max).value_or(fallback);
}

std::optional<double> StrictObject::optional_number(std::string_view key, double min, double max) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) fail(key, "must be a number");
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < min || x > max) {
    std::ostringstream range;
    range << "is out of range (allowed: " << min << " to " << max << ")";
    fail(key, range.str());
  }
  return x;
}

double StrictObject::number(std::string_view key, double fallback, double min, double max) {
  return optional_number(key, min, max).value_or(fallback);
}

bool StrictObject::boolean(std::string_view key, bool fallback) {
  const json* v = get(key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(key, "must be true or false");
  return v->get<bool>();
}

std::string StrictObject::string(std::string_view key, std::string fallback) {
  const json* v = get(key);
  if (!v) return fallback;
  if (!v->is_string()) fail(key, "must be a string");
  return v->get<std::string>();
}

std::size_t StrictObject::choice(std::string_view key, std::size_t fallback, std::initializer_list<std::string_view> allowed) {
  const json* v = get(key);
  if (!v) return fallback;
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    std::size_t i = 0;
    for (auto a : allowed) {
      if (a == s) return i;
      ++i;
    }
  }
  fail(key, "is not allowed (allowed: " + join(allowed) + ")");
}

StrictObject StrictObject::object(std::string_view key) {
  const json* v = get(key);
  const std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  return StrictObject(v ? *v : json::object(), source_, path);
}

void StrictObject::finish(std::initializer_list<std::string_view> also_allowed) {
  for (const auto& [key, unused] : object_.items()) {
    if (known_.contains(key)) continue;
    bool extra = false;
    for (auto a : also_allowed) extra = extra || a == key;
    if (extra) continue;
    std::string allowed;
    for (const auto& k : known_) allowed += (allowed.empty() ? "" : ", ") + k;
    for (auto a : also_allowed) allowed += (allowed.empty() ? "" : ", ") + std::string(a);
    config_fail(source_, "unknown key " + field(key) + " (allowed: " + allowed + ")");
  }
}

json parse_json_text(std::string_view text, std::string_view source) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    config_fail(source, "not valid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  }
}

// ---- ModelConfig -------------------------------------------------------------------------------

ModelConfig make_config(int vocab_size, int context_length, int d_model, int heads, int layers) {
  ModelConfig c;
  c.vocab_size = vocab_size;
  c.context_length = context_length;
  c.d_model = d_model;
  c.heads = heads;
  c.layers = layers;
  c.d_ff = 4 * d_model;
  validate_config(c);
  return c;
}

void validate_config(const ModelConfig& c, std::string_view source) {
  const auto positive = [&](const char* name, int value, int max) {
    if (value < 1 || value > max)
      config_fail(source, std::string("\"") + name + "\": " + std::to_string(value) + " is out of range (allowed: 1 to " +
                              std::to_string(max) + ")");
  };
  positive("vocab_size", c.vocab_size, kMaxVocab);
  positive("context_length", c.context_length, kMaxContext);
  positive("d_model", c.d_model, kMaxWidth);
  positive("heads", c.heads, kMaxWidth);
  positive("layers", c.layers, kMaxLayers);
  if (c.mlp) positive("d_ff", c.d_ff, kMaxFf);
  if (c.d_model % c.heads != 0)
    config_fail(source, "\"heads\": " + std::to_string(c.heads) + " does not divide \"d_model\": " + std::to_string(c.d_model) +
                            " (allowed: a divisor of d_model)");
  if (!(c.layernorm_eps > 0) || !std::isfinite(c.layernorm_eps))
    config_fail(source, "\"layernorm_eps\" must be a positive finite number");
  if (c.attention_scale && !std::isfinite(*c.attention_scale)) config_fail(source, "\"attention_scale\" must be a finite number");
  for (const auto* switches : {&c.residual_attention, &c.residual_mlp}) {
    if (!switches->empty() && static_cast<int>(switches->size()) != c.layers)
      config_fail(source, std::string(switches == &c.residual_attention ? "\"residual_attention\"" : "\"residual_mlp\"") +
                              " has " + std::to_string(switches->size()) + " entries, \"layers\" is " + std::to_string(c.layers) +
                              " (allowed: one per layer)");
  }
  if (c.mask == MaskKind::explicit_mask) {
    const int n = c.context_length;
    if (static_cast<int>(c.explicit_mask.size()) != n)
      config_fail(source, "\"explicit_mask\" has " + std::to_string(c.explicit_mask.size()) +
                              " rows (allowed: context_length = " + std::to_string(n) + " rows of " + std::to_string(n) +
                              " entries)");
    for (int i = 0; i < n; ++i) {
      if (static_cast<int>(c.explicit_mask[i].size()) != n)
        config_fail(source, "\"explicit_mask\" row " + std::to_string(i) + " has " + std::to_string(c.explicit_mask[i].size()) +
                                " entries (allowed: " + std::to_string(n) + ")");
      bool any = false;
      for (bool b : c.explicit_mask[i]) any = any || b;
      if (!any)
        config_fail(source, "\"explicit_mask\" row " + std::to_string(i) + " lets query " + std::to_string(i) +
                                " see no key (allowed: at least one 1 per row)");
    }
  } else if (!c.explicit_mask.empty()) {
    config_fail(source, "\"explicit_mask\" is given but \"mask\" is \"" + std::string(to_string(c.mask)) +
                            "\" (allowed: only with \"mask\": \"explicit\")");
  }
  if (!c.unlearned_bias.empty() && static_cast<int>(c.unlearned_bias.size()) != c.layers)
    config_fail(source, "\"unlearned_bias\" has " + std::to_string(c.unlearned_bias.size()) + " entries, \"layers\" is " +
                            std::to_string(c.layers) + " (allowed: one per layer)");
  const int dh = c.d_head();
  for (std::size_t l = 0; l < c.unlearned_bias.size(); ++l) {
    const auto check = [&](const char* part, const std::vector<std::vector<double>>& v) {
      if (v.empty()) return;
      const std::string where = "\"unlearned_bias[" + std::to_string(l) + "]." + part + "\"";
      if (static_cast<int>(v.size()) != c.heads)
        config_fail(source, where + " has " + std::to_string(v.size()) + " rows (allowed: heads = " + std::to_string(c.heads) +
                                " rows of d_head = " + std::to_string(dh) + ")");
      for (const auto& row : v) {
        if (static_cast<int>(row.size()) != dh)
          config_fail(source, where + " has a row of " + std::to_string(row.size()) +
                                  " entries (allowed: d_head = " + std::to_string(dh) + ")");
        for (double x : row)
          if (!std::isfinite(x)) config_fail(source, where + " has a non-finite entry");
      }
    };
    check("query", c.unlearned_bias[l].query);
    check("key", c.unlearned_bias[l].key);
    check("value", c.unlearned_bias[l].value);
  }
}

ModelConfig parse_config_object(const json& object, std::string_view source, std::string_view path) {
  StrictObject o(object, std::string(source), std::string(path));
  ModelConfig c;
  c.vocab_size = static_cast<int>(o.integer("vocab_size", c.vocab_size, 1, kMaxVocab));
  c.context_length = static_cast<int>(o.integer("context_length", c.context_length, 1, kMaxContext));
  c.d_model = static_cast<int>(o.integer("d_model", c.d_model, 1, kMaxWidth));
  c.heads = static_cast<int>(o.integer("heads", c.heads, 1, kMaxWidth));
  c.layers = static_cast<int>(o.integer("layers", c.layers, 1, kMaxLayers));
  c.d_ff = static_cast<int>(o.integer("d_ff", 4 * c.d_model, 1, kMaxFf));
  c.positional_encoding = static_cast<PositionalEncoding>(
      o.choice("positional_encoding", 0, {kPositionalEncodings[0], kPositionalEncodings[1], kPositionalEncodings[2]}));
  c.mask = static_cast<MaskKind>(o.choice("mask", 0, {kMasks[0], kMasks[1], kMasks[2]}));
  c.activation = static_cast<Activation>(o.choice("activation", 0, {kActivations[0], kActivations[1], kActivations[2]}));
  c.init = static_cast<InitScheme>(o.choice("init", 0, {kInits[0], kInits[1]}));
  c.mlp = o.boolean("mlp", c.mlp);
  c.layernorm = o.boolean("layernorm", c.layernorm);
  c.final_layernorm = o.boolean("final_layernorm", c.final_layernorm);
  c.layernorm_eps = o.number("layernorm_eps", c.layernorm_eps, std::numeric_limits<double>::min(), 1.0);
  c.attention_scale = o.optional_number("attention_scale", -1e6, 1e6);
  c.residual_attention = parse_switches(o, "residual_attention", c.layers);
  c.residual_mlp = parse_switches(o, "residual_mlp", c.layers);

  if (const json* m = o.get("explicit_mask")) {
    if (c.mask != MaskKind::explicit_mask) o.fail("explicit_mask", "is given but \"mask\" is not \"explicit\"");
    if (!m->is_array()) o.fail("explicit_mask", "must be an array of rows of 0/1 (or booleans)");
    for (const auto& row : *m) {
      if (!row.is_array()) o.fail("explicit_mask", "must be an array of rows of 0/1 (or booleans)");
      std::vector<bool> r;
      for (const auto& x : row) {
        if (x.is_boolean()) r.push_back(x.get<bool>());
        else if (x.is_number_integer() && (x.get<std::int64_t>() == 0 || x.get<std::int64_t>() == 1))
          r.push_back(x.get<std::int64_t>() == 1);
        else o.fail("explicit_mask", "entries must be 0, 1, true or false, got " + json_excerpt(x));
      }
      c.explicit_mask.push_back(std::move(r));
    }
  } else if (c.mask == MaskKind::explicit_mask) {
    o.fail("explicit_mask", "is required when \"mask\" is \"explicit\" (allowed: context_length rows of 0/1)");
  }

  if (const json* b = o.get("unlearned_bias")) {
    if (!b->is_array()) o.fail("unlearned_bias", "must be an array with one object per layer");
    for (std::size_t l = 0; l < b->size(); ++l) {
      StrictObject layer((*b)[l], std::string(source),
                         (path.empty() ? std::string() : std::string(path) + ".") + "unlearned_bias[" + std::to_string(l) + "]");
      UnlearnedBiasSpec spec;
      spec.query = parse_bias(layer, "query");
      spec.key = parse_bias(layer, "key");
      spec.value = parse_bias(layer, "value");
      layer.finish();
      c.unlearned_bias.push_back(std::move(spec));
    }
  }
  o.finish();
  validate_config(c, source);
  return c;
}

ModelConfig parse_config(std::string_view json_text, std::string_view source) {
  return parse_config_object(parse_json_text(json_text, source), source, "");
}

ModelConfig load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the config file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read the config file");
  return parse_config(text.str(), path);
}

std::string describe(const ModelConfig& m) {
  int residuals = 0;
  for (int l = 0; l < m.layers; ++l) residuals += m.residual_attention_on(l) + m.residual_mlp_on(l);
  return "L=" + std::to_string(m.layers) + " H=" + std::to_string(m.heads) + " d=" + std::to_string(m.d_model) +
         " mask=" + std::string(to_string(m.mask)) + " PE=" + std::string(to_string(m.positional_encoding)) +
         (m.layernorm ? " LN" : " noLN") + (m.mlp ? " mlp=" + std::string(to_string(m.activation)) : std::string(" attn-only")) +
         " res=" +
         (residuals == 2 * m.layers ? "on"
          : residuals == 0          ? "off"
                                    : "mixed");
}

std::string config_to_json(const ModelConfig& c) {
  json j;
  j["vocab_size"] = c.vocab_size;
  j["context_length"] = c.context_length;
  j["d_model"] = c.d_model;
  j["heads"] = c.heads;
  j["layers"] = c.layers;
  j["d_ff"] = c.d_ff;
  j["positional_encoding"] = to_string(c.positional_encoding);
  j["mask"] = to_string(c.mask);
  if (c.mask == MaskKind::explicit_mask) {
    json rows = json::array();
    for (const auto& row : c.explicit_mask) {
      json r = json::array();
      for (bool b : row) r.push_back(b ? 1 : 0);
      rows.push_back(r);
    }
    j["explicit_mask"] = rows;
  }
  j["activation"] = to_string(c.activation);
  j["mlp"] = c.mlp;
  j["layernorm"] = c.layernorm;
  j["final_layernorm"] = c.final_layernorm;
  j["layernorm_eps"] = c.layernorm_eps;
  json ra = json::array(), rm = json::array();
  for (int l = 0; l < c.layers; ++l) {
    ra.push_back(c.residual_attention_on(l));
    rm.push_back(c.residual_mlp_on(l));
  }
  j["residual_attention"] = ra;
  j["residual_mlp"] = rm;
  if (c.attention_scale) j["attention_scale"] = *c.attention_scale;
  if (!c.unlearned_bias.empty()) {
    json layers = json::array();
    for (const auto& spec : c.unlearned_bias) {
      json layer = json::object();
      if (!spec.query.empty()) layer["query"] = spec.query;
      if (!spec.key.empty()) layer["key"] = spec.key;
      if (!spec.value.empty()) layer["value"] = spec.value;
      layers.push_back(layer);
    }
    j["unlearned_bias"] = layers;
  }
  j["init"] = to_string(c.init);
  return j.dump(2);
}

}  // namespace symbreak
