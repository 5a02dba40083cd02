// analysis.json: the typed RunAnalysis written and read back. The only place that knows its keys.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "symbreak/experiments/analysis.hpp"
#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"
#include "symbreak/npy.hpp"

namespace symbreak::experiments {

using nlohmann::json;

const PairMeasures* RunAnalysis::pair(int from, int to) const {
  for (const PairMeasures& p : pairs)
    if (p.from == from && p.to == to) return &p;
  return nullptr;
}

std::string RunAnalysis::who() const {
  return run + (at_init ? " at initialisation" : at_step ? " at step " + std::to_string(*at_step) : "");
}

// ---- writing ----------------------------------------------------------------------------------------

namespace {

json number_or_null(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

json matrix_json(const Eigen::MatrixXd& m) {
  json rows = json::array();
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    json row = json::array();
    for (Eigen::Index c = 0; c < m.cols(); ++c) row.push_back(number_or_null(m(r, c)));
    rows.push_back(std::move(row));
  }
  return rows;
}

json statistic_json(const AlignmentStatistic& s) {
  json ranking = json::array();
  for (const TokenCosine& t : s.ranking) ranking.push_back({{"token", t.token}, {"cos", t.cos}});
  return {{"ranking", ranking},
          {"max_cos", number_or_null(s.max_cos)},
          {"null_mean", number_or_null(s.null_mean)},
          {"null_sd", number_or_null(s.null_sd)},
          {"z", number_or_null(s.z)}};
}

}  // namespace

json analysis_to_json(const RunAnalysis& a) {
  json excluded = json::array();
  for (const ExcludedSlot& e : a.excluded_slots)
    excluded.push_back({{"layer", e.layer}, {"position", e.position}, {"token", e.token}});
  json pairs = json::array();
  for (std::size_t p = 0; p < a.pairs.size(); ++p) {
    const PairMeasures& m = a.pairs[p];
    pairs.push_back({{"from", m.from},
                     {"to", m.to},
                     {"diagonality_index", number_or_null(m.diagonality_index)},
                     {"log_diagonality_index", number_or_null(m.log_diagonality_index)},
                     {"diagonality_index_unbiased", number_or_null(m.diagonality_index_unbiased)},
                     {"log_diagonality_index_unbiased", number_or_null(m.log_diagonality_index_unbiased)},
                     {"argmax_rate", number_or_null(m.argmax_rate)},
                     {"cka", p < a.cka.size() ? matrix_json(a.cka[p]) : json::array()},
                     {"pearson_file", m.pearson_file}});
  }
  json retention = json::array();
  for (const StreamRetention& r : a.retention)
    retention.push_back({{"layer", r.layer},
                         {"own_token", number_or_null(r.own_token)},
                         {"other_tokens", number_or_null(r.other_tokens)},
                         {"matrix", matrix_json(r.matrix)}});
  json positions = json::array();
  for (const PositionProbe& p : a.position_probe)
    positions.push_back({{"layer", p.layer}, {"accuracy", number_or_null(p.accuracy)}, {"chance", number_or_null(p.chance)}});
  json mass = json::array();
  for (double m : a.self_attention_mass) mass.push_back(number_or_null(m));
  json layers = json::array();
  for (const LayerAlignment& l : a.alignment.layers) {
    json heads = json::array();
    for (const HeadAlignment& h : l.heads)
      heads.push_back({{"head", h.head}, {"raw", statistic_json(h.raw)}, {"actual", statistic_json(h.actual)}});
    layers.push_back({{"layer", l.layer}, {"heads", heads}});
  }
  return {{"run", a.run},
          {"run_dir", a.run_dir},
          {"seed", a.seed},
          {"at_init", a.at_init},
          {"at_step", a.at_step ? json(*a.at_step) : json(nullptr)},
          {"prompts", a.prompts},
          {"model", json::parse(config_to_json(a.model))},
          {"tokens", a.layout.labels},
          {"digit_positions", a.layout.digit_positions},
          {"constant_spread_threshold", a.constant_spread_threshold},
          {"excluded_slots", excluded},
          {"pairs", pairs},
          {"retention", retention},
          {"position_probe", positions},
          {"self_attention_mass", mass},
          {"alignment",
           {{"bias_enabled", a.alignment.bias_enabled},
            {"statistic", a.alignment.statistic},
            {"random_directions", a.alignment.random_directions},
            {"mean_z_raw", number_or_null(a.alignment.mean_z_raw)},
            {"mean_z_actual", number_or_null(a.alignment.mean_z_actual)},
            {"layers", layers}}}};
}

// ---- reading ----------------------------------------------------------------------------------------

namespace {

constexpr std::int64_t kMaxIndex = 1 << 20;

// A required field (absent: an error naming it).
const json& required(StrictObject& o, std::string_view key) {
  const json* v = o.get(key);
  if (!v) o.fail(key, "is missing");
  return *v;
}
int index_field(StrictObject& o, std::string_view key) {
  required(o, key);
  return static_cast<int>(*o.optional_integer(key, 0, kMaxIndex));
}
std::string string_field(StrictObject& o, std::string_view key) {
  if (!required(o, key).is_string()) o.fail(key, "must be a string");
  return o.string(key, "");
}
// A measurement: a number, or null for "undefined" (NaN). `optional`: absent in older files, read as NaN.
double measure(StrictObject& o, std::string_view key, bool optional = false) {
  const json* v = o.get(key);
  if (!v) {
    if (optional) return kNaN;
    o.fail(key, "is missing");
  }
  if (v->is_null()) return kNaN;
  if (!v->is_number()) o.fail(key, "must be a number or null");
  return v->get<double>();
}
// An array field; each element is handed over with its path ("pairs[2]").
template <class F>
void each(StrictObject& o, std::string_view key, F&& element) {
  const json& v = required(o, key);
  if (!v.is_array()) o.fail(key, "must be an array");
  const std::string path = o.field(key);
  const std::string bare = path.substr(1, path.size() - 2);  // without the quotes
  for (std::size_t i = 0; i < v.size(); ++i) element(v[i], bare + "[" + std::to_string(i) + "]");
}
StrictObject element_object(const json& v, const std::string& source, const std::string& path) {
  if (!v.is_object()) throw ConfigError(source + ": \"" + path + "\" must be an object");
  return StrictObject(v, source, path);
}
double element_measure(const json& v, const std::string& source, const std::string& path) {
  if (v.is_null()) return kNaN;
  if (!v.is_number()) throw ConfigError(source + ": \"" + path + "\" must be a number or null");
  return v.get<double>();
}
Eigen::MatrixXd matrix_field(StrictObject& o, std::string_view key) {
  std::vector<std::vector<double>> rows;
  each(o, key, [&](const json& row, const std::string& path) {
    if (!row.is_array()) throw ConfigError(o.source() + ": \"" + path + "\" must be an array");
    rows.emplace_back();
    for (std::size_t c = 0; c < row.size(); ++c)
      rows.back().push_back(element_measure(row[c], o.source(), path + "[" + std::to_string(c) + "]"));
    if (rows.back().size() != rows.front().size())
      throw ConfigError(o.source() + ": \"" + path + "\" has " + std::to_string(rows.back().size()) +
                        " entries where row 0 has " + std::to_string(rows.front().size()));
  });
  Eigen::MatrixXd m(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(rows.empty() ? 0 : rows[0].size()));
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c) m(r, c) = rows[r][c];
  return m;
}
AlignmentStatistic statistic_from(StrictObject o) {
  AlignmentStatistic s;
  each(o, "ranking", [&](const json& v, const std::string& path) {
    StrictObject t = element_object(v, o.source(), path);
    s.ranking.push_back({string_field(t, "token"), measure(t, "cos")});
    t.finish();
  });
  s.max_cos = measure(o, "max_cos");
  s.null_mean = measure(o, "null_mean");
  s.null_sd = measure(o, "null_sd");
  s.z = measure(o, "z");
  o.finish();
  return s;
}

}  // namespace

RunAnalysis analysis_from_json(const json& j, const std::string& source) {
  if (!j.is_object()) throw ConfigError(source + ": must be a JSON object (an analysis.json)");
  StrictObject o(j, source, "");
  RunAnalysis a;
  a.run = string_field(o, "run");
  a.run_dir = string_field(o, "run_dir");
  required(o, "seed");
  a.seed = static_cast<std::uint64_t>(*o.optional_integer("seed", 0, std::numeric_limits<std::int64_t>::max()));
  required(o, "at_init");
  a.at_init = o.boolean("at_init", false);
  if (const json* s = o.get("at_step"); s && !s->is_null())
    a.at_step = static_cast<int>(*o.optional_integer("at_step", 0, kMaxIndex * 64));
  a.prompts = index_field(o, "prompts");
  a.model = parse_config_object(required(o, "model"), source, "model");
  const json& tokens = required(o, "tokens");
  const json& digits = required(o, "digit_positions");
  if (!tokens.is_array() || !std::all_of(tokens.begin(), tokens.end(), [](const json& t) { return t.is_string(); }))
    o.fail("tokens", "must be an array of strings");
  if (!digits.is_array() || !std::all_of(digits.begin(), digits.end(), [&](const json& t) {
        return t.is_number_integer() && t.get<std::int64_t>() >= 0 &&
               t.get<std::int64_t>() < static_cast<std::int64_t>(tokens.size());
      }))
    o.fail("digit_positions", "must be an array of positions into \"tokens\"");
  a.layout.labels = tokens.get<std::vector<std::string>>();
  a.layout.length = static_cast<int>(a.layout.labels.size());
  a.layout.digit_positions = digits.get<std::vector<int>>();
  a.constant_spread_threshold = measure(o, "constant_spread_threshold");
  each(o, "excluded_slots", [&](const json& v, const std::string& path) {
    StrictObject e = element_object(v, source, path);
    a.excluded_slots.push_back({index_field(e, "layer"), index_field(e, "position"), string_field(e, "token")});
    e.finish();
  });
  each(o, "pairs", [&](const json& v, const std::string& path) {
    StrictObject p = element_object(v, source, path);
    PairMeasures m;
    m.from = index_field(p, "from");
    m.to = index_field(p, "to");
    m.diagonality_index = measure(p, "diagonality_index");
    m.log_diagonality_index = measure(p, "log_diagonality_index", true);
    m.diagonality_index_unbiased = measure(p, "diagonality_index_unbiased", true);
    m.log_diagonality_index_unbiased = measure(p, "log_diagonality_index_unbiased", true);
    m.argmax_rate = measure(p, "argmax_rate");
    m.pearson_file = string_field(p, "pearson_file");
    a.cka.push_back(matrix_field(p, "cka"));
    p.finish();
    a.pairs.push_back(std::move(m));
  });
  each(o, "retention", [&](const json& v, const std::string& path) {
    StrictObject r = element_object(v, source, path);
    StreamRetention s;
    s.layer = index_field(r, "layer");
    s.own_token = measure(r, "own_token");
    s.other_tokens = measure(r, "other_tokens");
    s.matrix = matrix_field(r, "matrix");
    r.finish();
    a.retention.push_back(std::move(s));
  });
  each(o, "position_probe", [&](const json& v, const std::string& path) {
    StrictObject p = element_object(v, source, path);
    a.position_probe.push_back({index_field(p, "layer"), measure(p, "accuracy"), measure(p, "chance")});
    p.finish();
  });
  each(o, "self_attention_mass",
       [&](const json& v, const std::string& path) { a.self_attention_mass.push_back(element_measure(v, source, path)); });
  StrictObject al = o.object("alignment");
  required(o, "alignment");
  required(al, "bias_enabled");
  a.alignment.bias_enabled = al.boolean("bias_enabled", false);
  a.alignment.statistic = string_field(al, "statistic");
  a.alignment.random_directions = index_field(al, "random_directions");
  a.alignment.mean_z_raw = measure(al, "mean_z_raw");
  a.alignment.mean_z_actual = measure(al, "mean_z_actual");
  each(al, "layers", [&](const json& v, const std::string& path) {
    StrictObject l = element_object(v, source, path);
    LayerAlignment layer;
    layer.layer = index_field(l, "layer");
    each(l, "heads", [&](const json& hv, const std::string& hpath) {
      StrictObject h = element_object(hv, source, hpath);
      HeadAlignment head;
      head.head = index_field(h, "head");
      required(h, "raw");
      required(h, "actual");
      head.raw = statistic_from(h.object("raw"));
      head.actual = statistic_from(h.object("actual"));
      h.finish();
      layer.heads.push_back(std::move(head));
    });
    l.finish();
    a.alignment.layers.push_back(std::move(layer));
  });
  al.finish();
  o.finish();
  if (a.position_probe.size() != a.retention.size())
    throw ConfigError(source + ": \"position_probe\" has " + std::to_string(a.position_probe.size()) +
                      " streams where \"retention\" has " + std::to_string(a.retention.size()));
  return a;
}

RunAnalysis read_analysis_json(const std::string& path) {
  return analysis_from_json(parse_json_text(read_file(path), path), path);
}

std::optional<RunAnalysis> load_analysis(const std::string& dir, bool with_pearson) {
  const std::string path = dir + "/analysis.json";
  if (!std::filesystem::exists(path)) return std::nullopt;
  RunAnalysis a = read_analysis_json(path);
  if (!with_pearson) return a;
  for (const PairMeasures& p : a.pairs) {
    // The Pearson matrices are bulk files that git does not keep: a committed run has its
    // analysis.json but not them, and has no picture to redraw.
    const std::string file = dir + "/" + p.pearson_file;
    if (!std::filesystem::exists(file)) return std::nullopt;
    const NpyArray m = read_npy(file);
    Eigen::MatrixXd M(static_cast<Eigen::Index>(m.shape[0]), static_cast<Eigen::Index>(m.shape[1]));
    for (Eigen::Index r = 0; r < M.rows(); ++r)
      for (Eigen::Index c = 0; c < M.cols(); ++c) M(r, c) = m.f4[static_cast<std::size_t>(r * M.cols() + c)];
    a.pearson.push_back(std::move(M));
  }
  return a;
}

}  // namespace symbreak::experiments
