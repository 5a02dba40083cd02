#include "symbreak/experiments/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <numeric>

#include "symbreak/experiments/figure.hpp"
#include "symbreak/experiments/probes.hpp"
#include "symbreak/experiments/stats.hpp"
#include "symbreak/experiments/trainer.hpp"
#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"
#include "symbreak/layers.hpp"
#include "symbreak/npy.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::experiments {

using nlohmann::json;

namespace {

// A slot or a unit whose spread across prompts is below 128 float32 ulps of its magnitude (2^-16
// relative) is constant up to rounding: it carries no information and is excluded, never divided by.
constexpr double kConstantSpread = 1.0 / 65536.0;

// True when the columns' spread is rounding noise relative to their magnitude.
bool near_constant(const Eigen::MatrixXd& X) {
  const double rms = std::sqrt(X.squaredNorm() / static_cast<double>(X.size()));
  const Eigen::MatrixXd centred = X.rowwise() - X.colwise().mean();
  const double spread = std::sqrt(centred.squaredNorm() / static_cast<double>(X.size()));
  return rms == 0 || spread <= kConstantSpread * rms;
}

// Columns that are constant up to rounding are set exactly constant, so Pearson leaves them undefined.
Eigen::MatrixXd without_constant_columns(Eigen::MatrixXd X) {
  for (Eigen::Index c = 0; c < X.cols(); ++c)
    if (near_constant(X.col(c))) X.col(c).setZero();
  return X;
}

std::string token_label(int token) {
  return token < 10 ? std::string(1, static_cast<char>('0' + token)) : AdditionTask::render({token});
}

}  // namespace

RunFiles read_run(const std::string& run_dir) {
  RunFiles r;
  r.dir = run_dir;
  r.name = std::filesystem::path(run_dir).lexically_normal().filename().string();
  if (r.name.empty()) r.name = std::filesystem::path(run_dir).lexically_normal().parent_path().filename().string();
  const std::string config = run_dir + "/config.json", run = run_dir + "/run.json";
  if (!std::filesystem::exists(config))
    throw ConfigError(config + ": not found (is " + run_dir + " a symbreak train --out directory?)");
  r.config = load_train_config(config);
  std::string text;
  try {
    text = read_file(run);
  } catch (const std::runtime_error&) {
    throw ConfigError(run + ": not found (is " + run_dir + " a symbreak train --out directory?)");
  }
  const json j = parse_json_text(text, run);
  if (!j.is_object() || !j.contains("seed") || !j["seed"].is_number_unsigned())
    throw ConfigError(run + ": \"seed\" is missing or not a non-negative integer");
  r.seed = j["seed"].get<std::uint64_t>();
  return r;
}

std::string analysis_dir(const std::string& run_dir, bool at_init, std::optional<int> at_step) {
  if (at_init) return run_dir + "/analysis-init";
  if (at_step) return run_dir + "/analysis-step" + std::to_string(*at_step);
  return run_dir + "/analysis";
}

Model<float> load_run_model(const RunFiles& run, bool at_init, std::optional<int> at_step) {
  if (at_init && at_step) throw ConfigError("--at-init and --at-step: choose one set of weights");
  Model<float> model = make_model<float>(run.config.model, run.seed);
  if (!at_init) {
    const std::string path = at_step ? kept_weights_path(run.dir, *at_step) : run.dir + "/weights.bin";
    if (!std::filesystem::exists(path))
      throw ConfigError(path + (at_step ? ": not found (train keeps a step's weights with --keep-weights-at " +
                                              std::to_string(*at_step) + ")"
                                        : ": not found (the run has not finished; --at-init analyses the untrained weights)"));
    try {
      load_weights_bytes(read_file(path), model.weights);
    } catch (const std::runtime_error& e) {
      throw ConfigError(path + ": " + e.what());
    }
  }
  set_unlearned_biases(model, run.config.bias, nullptr);
  return model;
}

ProbeLayout probe_layout(const TaskFormat& format) {
  const AdditionTask task(format);
  ProbeLayout p;
  p.length = task.prompt_length() + AdditionTask::kAnswerDigits - 1;
  const auto add = [&p](const char* label, bool digit) {
    if (digit) p.digit_positions.push_back(static_cast<int>(p.labels.size()));
    p.labels.push_back(label);
  };
  if (format.bos) add("^", false);
  for (const char* l : {"a", "b", "c"}) add(l, true);
  add("+", false);
  for (const char* l : {"d", "e", "f"}) add(l, true);
  add("=", false);
  if (format.delimiter) add("$", false);
  for (const char* l : {"u", "t", "h"}) add(l, true);  // the answer digits the model reads
  return p;
}

std::vector<LayerPair> analysed_pairs(int layers) {
  std::vector<LayerPair> pairs;
  for (int l = 0; l < layers; ++l) pairs.push_back({l, l + 1});
  if (layers > 1) pairs.push_back({0, layers});
  return pairs;
}

CkaMatrices cka_matrices(const std::vector<Eigen::MatrixXd>& from, const std::vector<Eigen::MatrixXd>& to) {
  std::vector<CkaSlot> a, b;
  for (const auto& x : from) a.push_back(x.size() ? cka_slot(x) : CkaSlot{});
  for (const auto& y : to) b.push_back(y.size() ? cka_slot(y) : CkaSlot{});
  CkaMatrices m;
  m.biased.resize(static_cast<Eigen::Index>(a.size()), static_cast<Eigen::Index>(b.size()));
  m.unbiased.resizeLike(m.biased);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < b.size(); ++j) {
      const CkaPair c = linear_cka_both(a[i], b[j]);
      m.biased(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = c.biased;
      m.unbiased(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = c.unbiased;
    }
  return m;
}

Eigen::MatrixXd cka_matrix(const std::vector<Eigen::MatrixXd>& from, const std::vector<Eigen::MatrixXd>& to) {
  return cka_matrices(from, to).biased;
}

double diagonality_index(const Eigen::MatrixXd& m) {
  double diag = 0, off = 0;
  int nd = 0, no = 0;
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      if (std::isnan(m(i, j))) continue;
      if (i == j) diag += m(i, j), ++nd;
      else off += m(i, j), ++no;
    }
  if (nd == 0 || no == 0 || off <= 0) return kNaN;
  return (diag / nd) / (off / no);
}

double argmax_rate(const Eigen::MatrixXd& m) {
  int rows = 0, hits = 0;
  for (Eigen::Index i = 0; i < m.rows() && i < m.cols(); ++i) {
    if (std::isnan(m(i, i))) continue;
    Eigen::Index best = -1;
    for (Eigen::Index j = 0; j < m.cols(); ++j)
      if (!std::isnan(m(i, j)) && (best < 0 || m(i, j) > m(i, best))) best = j;
    ++rows;
    hits += best == i;
  }
  return rows ? static_cast<double>(hits) / rows : kNaN;
}

namespace {

// What one pass over the prompts collects: each layer's stream (prompt × (position, unit)), and the
// sums behind the self-attention mass and the mean keys, combined in a fixed order.
struct Collected {
  std::vector<Eigen::MatrixXf> streams;   // [l]: P × (n·d), column i·d + u
  std::vector<double> attention_mass;     // [block]: Σ att[i,i]·(keys visible to i) over prompts, heads, i ≥ 1
  std::vector<Eigen::MatrixXd> key_sums;  // [l·H + h]: V × dh, Σ of the keys at positions holding token t
  Eigen::VectorXd token_counts;           // V
};

// Teacher-forced sequences of the run's fixed test pairs (the first P of its generator), P × n.
std::vector<int> probe_tokens(const TrainConfig& c, int P, int n) {
  const AdditionTask task(c.format);
  const auto pairs = AdditionTask::test_set(P, c.test_seed);
  std::vector<int> tokens(static_cast<std::size_t>(P) * n);
  for (int p = 0; p < P; ++p) {
    const std::vector<int> s = task.encode(pairs[p].first, pairs[p].second);
    std::copy(s.begin(), s.begin() + n, tokens.begin() + static_cast<std::ptrdiff_t>(p) * n);
  }
  return tokens;
}

// One forward pass per chunk of prompts, chunks in parallel; every sum is combined in chunk order.
Collected collect(const Model<float>& model, const std::vector<int>& tokens, int P, int n, int threads) {
  const ModelConfig& mc = model.config;
  const int L = mc.layers, d = mc.d_model, H = mc.heads, dh = mc.d_head(), V = mc.vocab_size;
  // How many keys query i may attend (i + 1 under the causal mask): uniform attention gives att[i,i]·that = 1.
  const AttentionMask attention_mask = AttentionMask::of(mc, n);
  std::vector<int> visible_keys(n, 0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) visible_keys[i] += attention_mask.visible(i, j);

  Collected out;
  out.streams.assign(L + 1, Eigen::MatrixXf(P, n * d));
  const int chunk = 250, chunks = (P + chunk - 1) / chunk;
  std::vector<std::vector<double>> mass_parts(chunks, std::vector<double>(L, 0.0));
  std::vector<std::vector<Eigen::MatrixXd>> key_parts(chunks, std::vector<Eigen::MatrixXd>(L * H, Eigen::MatrixXd::Zero(V, dh)));
  std::vector<Eigen::VectorXd> count_parts(chunks, Eigen::VectorXd::Zero(V));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int k = 0; k < chunks; ++k) {
    const int begin = k * chunk, rows = std::min(chunk, P - begin);
    Activations<float> acts;
    forward(model,
            std::span<const int>(tokens.data() + static_cast<std::ptrdiff_t>(begin) * n, static_cast<std::size_t>(rows) * n),
            rows, n, acts);
    for (int l = 0; l <= L; ++l) {
      const Tensor<float>& s = acts.stream(l);
      for (int p = 0; p < rows; ++p)
        for (int i = 0; i < n; ++i)
          for (int u = 0; u < d; ++u) out.streams[l](begin + p, i * d + u) = s(p * n + i, u);
    }
    for (int p = 0; p < rows; ++p)
      for (int i = 0; i < n; ++i) count_parts[k][tokens[static_cast<std::size_t>(begin + p) * n + i]] += 1;
    for (int l = 0; l < L; ++l) {
      const LayerActivations<float>& a = acts.layers[l];
      double mass = 0;
      for (int p = 0; p < rows; ++p)
        for (int h = 0; h < H; ++h)
          for (int i = 1; i < n; ++i) mass += a.att((p * H + h) * n + i, i) * visible_keys[i];
      mass_parts[k][l] = mass;
      for (int p = 0; p < rows; ++p)
        for (int i = 0; i < n; ++i) {
          const int t = tokens[static_cast<std::size_t>(begin + p) * n + i];
          const float* q = a.qkv.row(p * n + i);
          for (int h = 0; h < H; ++h)
            for (int e = 0; e < dh; ++e) key_parts[k][l * H + h](t, e) += q[d + h * dh + e];
        }
    }
  }
  out.attention_mass.assign(L, 0.0);
  out.key_sums.assign(L * H, Eigen::MatrixXd::Zero(V, dh));
  out.token_counts = Eigen::VectorXd::Zero(V);
  for (int k = 0; k < chunks; ++k) {
    for (int l = 0; l < L; ++l) out.attention_mass[l] += mass_parts[k][l];
    for (int lh = 0; lh < L * H; ++lh) out.key_sums[lh] += key_parts[k][lh];
    out.token_counts += count_parts[k];
  }
  return out;
}

// Token retention R_l[k, j] for every slot k and digit position j; an excluded slot is a NaN row.
std::vector<Eigen::MatrixXd> token_retention(const std::vector<std::vector<Eigen::MatrixXd>>& slots, const ProbeLayout& layout,
                                             const std::vector<int>& tokens, int P, int threads) {
  const int layers = static_cast<int>(slots.size()), n = layout.length, digits = static_cast<int>(layout.digit_positions.size());
  std::vector<std::vector<int>> labels(digits, std::vector<int>(P));
  for (int j = 0; j < digits; ++j)
    for (int p = 0; p < P; ++p) labels[j][p] = tokens[static_cast<std::size_t>(p) * n + layout.digit_positions[j]];
  std::vector<Eigen::MatrixXd> retention(layers, Eigen::MatrixXd::Constant(n, digits, kNaN));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int li = 0; li < layers * n; ++li) {
    const int l = li / n, k = li % n;
    if (slots[l][k].size() == 0) continue;
    const auto results = ridge_probes(slots[l][k], labels, 10);
    for (int j = 0; j < digits; ++j) retention[l](k, j) = results[j].accuracy;
  }
  return retention;
}

// Per layer: the held-out accuracy of a linear probe reading the absolute position (one example is
// one prompt; its rows are its positions).
std::vector<double> position_accuracy(const std::vector<Eigen::MatrixXf>& streams, int P, int n, int d, int threads) {
  std::vector<int> labels(static_cast<std::size_t>(P) * n);
  for (int r = 0; r < P * n; ++r) labels[r] = r % n;
  std::vector<double> accuracy(streams.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int l = 0; l < static_cast<int>(streams.size()); ++l) {
    Eigen::MatrixXd X(static_cast<Eigen::Index>(P) * n, d);
    for (int p = 0; p < P; ++p)
      for (int i = 0; i < n; ++i)
        X.row(static_cast<Eigen::Index>(p) * n + i) = streams[l].row(p).segment(i * d, d).cast<double>();
    accuracy[l] = ridge_probes_grouped(X, {labels}, n, n)[0].accuracy;
  }
  return accuracy;
}

// Alignment of token keys with the mean query bias (Paper B): per layer and head, every token's
// cosine ranked, the largest cosine, and its z-score against random directions of the same norm.
Alignment alignment(const Model<float>& model, const TrainConfig& c, const Collected& collected, std::uint64_t seed,
               int random_directions) {
  const ModelConfig& mc = model.config;
  const int L = mc.layers, d = mc.d_model, H = mc.heads, dh = mc.d_head(), V = mc.vocab_size;
  std::vector<int> present;
  for (int t = 0; t < V; ++t)
    if (collected.token_counts[t] > 0) present.push_back(t);
  Rng rng(stream_seed(seed, "analysis.alignment"));
  const auto cosines = [](const Eigen::MatrixXd& keys, const Eigen::VectorXd& dir) {
    Eigen::VectorXd cs(keys.rows());
    for (Eigen::Index r = 0; r < keys.rows(); ++r) {
      const double norm = keys.row(r).norm() * dir.norm();
      cs[r] = norm > 0 ? keys.row(r).dot(dir) / norm : 0.0;
    }
    return cs;
  };
  Alignment out;
  out.bias_enabled = c.bias.enabled;
  out.statistic = "max over tokens of cos(key, mean query bias); z against random directions of equal norm";
  out.random_directions = random_directions;
  std::vector<double> z_raw_all, z_actual_all;
  for (int l = 0; l < L; ++l) {
    LayerAlignment layer{l, {}};
    for (int h = 0; h < H; ++h) {
      Eigen::VectorXd bias(dh);
      const Tensor<float>& qb = model.unlearned_bias[l].query;
      for (int e = 0; e < dh; ++e) bias[e] = qb.size() > 0 ? qb(h, e) : c.bias.query_mean;
      // Raw: W_K·e_t from the token embedding; actual: the mean key at the positions holding t.
      Eigen::MatrixXd raw(present.size(), dh), actual(present.size(), dh);
      const Tensor<float>& w = model.weights.layers[l].w_qkv;
      for (std::size_t r = 0; r < present.size(); ++r) {
        const int t = present[r];
        for (int e = 0; e < dh; ++e) {
          double s = 0;
          for (int u = 0; u < d; ++u) s += static_cast<double>(model.weights.token_embedding(t, u)) * w(u, d + h * dh + e);
          raw(static_cast<Eigen::Index>(r), e) = s;
        }
        actual.row(static_cast<Eigen::Index>(r)) = collected.key_sums[l * H + h].row(t) / collected.token_counts[t];
      }
      std::vector<Eigen::VectorXd> randoms(random_directions, Eigen::VectorXd(dh));
      for (auto& r : randoms) {
        for (int e = 0; e < dh; ++e) r[e] = rng.normal();
        r *= bias.norm() / std::max(r.norm(), 1e-300);
      }
      HeadAlignment head{h, {}, {}};
      for (const auto& [stat_out, keys] : {std::pair<AlignmentStatistic*, const Eigen::MatrixXd*>{&head.raw, &raw}, {&head.actual, &actual}}) {
        const Eigen::VectorXd cs = cosines(*keys, bias);
        std::vector<double> null_stats;
        for (const auto& r : randoms) null_stats.push_back(cosines(*keys, r).maxCoeff());
        const double mu = mean(null_stats);
        double var = 0;
        for (double s : null_stats) var += (s - mu) * (s - mu);
        const double sd = std::sqrt(var / std::max<std::size_t>(1, null_stats.size() - 1));
        const double stat = cs.maxCoeff(), z = sd > 0 ? (stat - mu) / sd : kNaN;
        std::vector<int> order(present.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return cs[a] > cs[b]; });
        for (int r : order) stat_out->ranking.push_back({token_label(present[r]), cs[r]});
        stat_out->max_cos = stat;
        stat_out->null_mean = mu;
        stat_out->null_sd = sd;
        stat_out->z = z;
        (stat_out == &head.raw ? z_raw_all : z_actual_all).push_back(z);
      }
      layer.heads.push_back(std::move(head));
    }
    out.layers.push_back(std::move(layer));
  }
  out.mean_z_raw = mean(z_raw_all);
  out.mean_z_actual = mean(z_actual_all);
  return out;
}

}  // namespace

RunAnalysis analyze(const RunFiles& run, const AnalysisOptions& options) {
  // Parallel over probes and slots with OpenMP, so one BLAS thread: OpenBLAS's own threads spin while
  // they wait, and two analyses side by side (a sweep's two job slots) ran 18x slower with them.
  set_threads(options.threads);
  const TrainConfig& c = run.config;
  const Model<float> model = load_run_model(run, options.at_init, options.at_step);
  const int L = c.model.layers, d = c.model.d_model, H = c.model.heads;
  RunAnalysis out;
  out.layout = probe_layout(c.format);
  const ProbeLayout& layout = out.layout;
  const int n = layout.length, P = options.prompts;
  if (P < 50) throw ConfigError("--prompts " + std::to_string(P) + ": too few for an 80/20 probe split (allowed: at least 50)");
  const std::vector<int> tokens = probe_tokens(c, P, n);
  const Collected collected = collect(model, tokens, P, n, options.threads);

  // Slots, and which of them are constant up to rounding (an excluded slot is left empty).
  std::vector<std::vector<Eigen::MatrixXd>> slots(L + 1, std::vector<Eigen::MatrixXd>(n));
  std::vector<std::vector<bool>> valid(L + 1, std::vector<bool>(n, true));
#pragma omp parallel for schedule(dynamic, 1) num_threads(options.threads)
  for (int li = 0; li < (L + 1) * n; ++li) {
    const int l = li / n, i = li % n;
    Eigen::MatrixXd X = collected.streams[l].middleCols(i * d, d).cast<double>();
    valid[l][i] = !near_constant(X);
    if (valid[l][i]) slots[l][i] = std::move(X);
  }
  out.run = run.name;
  out.run_dir = run.dir;
  out.seed = run.seed;
  out.at_init = options.at_init;
  out.at_step = options.at_step;
  out.prompts = P;
  out.model = c.model;
  out.constant_spread_threshold = kConstantSpread;
  for (int l = 0; l <= L; ++l)
    for (int i = 0; i < n; ++i)
      if (!valid[l][i]) out.excluded_slots.push_back({l, i, layout.labels[i]});

  // Layer pairs: Pearson (the paper's picture) and CKA (the basis-invariant summary).
  for (const LayerPair& pr : analysed_pairs(L)) {
    out.pearson.push_back(pearson_matrix(without_constant_columns(collected.streams[pr.from].cast<double>()),
                                         without_constant_columns(collected.streams[pr.to].cast<double>())));
    const CkaMatrices both = cka_matrices(slots[pr.from], slots[pr.to]);
    const Eigen::MatrixXd& M = both.biased;
    out.cka.push_back(M);
    const double D = diagonality_index(M), D_unbiased = diagonality_index(both.unbiased);
    out.pairs.push_back({.from = pr.from,
                         .to = pr.to,
                         .diagonality_index = D,
                         .log_diagonality_index = D > 0 ? std::log(D) : kNaN,
                         .diagonality_index_unbiased = D_unbiased,
                         .log_diagonality_index_unbiased = D_unbiased > 0 ? std::log(D_unbiased) : kNaN,
                         .argmax_rate = argmax_rate(M),
                         .pearson_file = "pearson_" + std::to_string(pr.from) + "_" + std::to_string(pr.to) + ".npy"});
  }

  // Token retention, with each layer's own-token (k = j) and other-token means.
  const std::vector<Eigen::MatrixXd> retention = token_retention(slots, layout, tokens, P, options.threads);
  for (int l = 0; l <= L; ++l) {
    std::vector<double> own, other;
    for (std::size_t j = 0; j < layout.digit_positions.size(); ++j)
      for (int k = 0; k < n; ++k) {
        const double v = retention[l](k, static_cast<Eigen::Index>(j));
        if (!std::isnan(v)) (k == layout.digit_positions[j] ? own : other).push_back(v);
      }
    out.retention.push_back({l, mean(own), mean(other), retention[l]});
  }

  const std::vector<double> positions = position_accuracy(collected.streams, P, n, d, options.threads);
  for (int l = 0; l <= L; ++l) out.position_probe.push_back({l, positions[l], 1.0 / n});
  for (int l = 0; l < L; ++l) out.self_attention_mass.push_back(collected.attention_mass[l] / (static_cast<double>(P) * H * (n - 1)));
  out.alignment = alignment(model, c, collected, run.seed, options.random_directions);
  return out;
}

}  // namespace symbreak::experiments
