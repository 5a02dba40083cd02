// What a trained addition model keeps where: the measurements behind Paper A's residual claim
// (arXiv 2402.05969) and Paper B's alignment claim (arXiv 2601.22257), read from the ONE model's
// activations on teacher-forced test prompts.
//
// A slot (l, i) is the P×d matrix of the residual stream entering block l (stream(l); l = L is the
// final stream) at position i, over P prompts. For each layer pair (l, l′) the analysis computes
//   * the paper's picture: Pearson correlations between every (position, unit) of l and of l′;
//   * M[i, j] = linear CKA between slots (l, i) and (l′, j) — invariant to orthogonal transforms and
//     isotropic scaling (not to every invertible map), so it compares layers that share no coordinate
//     basis (no residual) up to rotation and scale — with the diagonality index
//     D = mean_i M[i,i] / mean_{i≠j} M[i,j] and the argmax rate A = share of slots i whose best
//     match in l′ is slot i; D is also reported as log D, and from the unbiased HSIC estimator
//     (whose off-diagonal floor is 0 rather than about d/P, so the ratio can be undefined there);
// and per layer
//   * token retention R_l[k, j]: held-out accuracy of a linear probe reading the digit at position j
//     from slot (l, k) (chance 0.10);
//   * a position probe: held-out accuracy of a linear probe reading the absolute position;
//   * self-attention mass: mean over heads, prompts and positions i ≥ 1 of att[i,i]·(keys visible to
//     i); 1 for uniform attention;
//   * alignment (Paper B): per head, cos(key of token t, mean query bias) for every token, ranked,
//     from the raw embeddings (W_K·e_t) and from the actual keys, with a z-score against random
//     directions of the same norm.
#pragma once

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "symbreak/config.hpp"
#include "symbreak/experiments/stats.hpp"
#include "symbreak/experiments/train_config.hpp"
#include "symbreak/model.hpp"

namespace symbreak::experiments {

struct AnalysisOptions {
  int prompts = 2000;           // the first P pairs of the run's fixed test set
  bool at_init = false;         // analyse the seed's untrained weights (the control)
  std::optional<int> at_step;   // analyse the weights kept at this step (train --keep-weights-at)
  int random_directions = 100;  // for the alignment z-scores
  int threads = 2;
};

// A run directory as the trainer leaves it: config.json, run.json (the seed), weights.bin.
struct RunFiles {
  std::string dir, name;
  TrainConfig config;
  std::uint64_t seed = 1;
};
// Throws ConfigError naming the missing or malformed file.
RunFiles read_run(const std::string& run_dir);
// The run's model: trained weights from weights.bin, the weights kept at a step
// (weights-step<N>.bin), or the seed's initial weights; unlearned biases at their means (as in
// evaluation).
Model<float> load_run_model(const RunFiles& run, bool at_init, std::optional<int> at_step = std::nullopt);
// Where an analysis goes by default: RUN/analysis, RUN/analysis-init or RUN/analysis-step<N>.
std::string analysis_dir(const std::string& run_dir, bool at_init, std::optional<int> at_step);

// The teacher-forced sequences the analysis feeds (prompt plus the three answer digits the model
// reads), their token labels ("^", "a", "b", "c", "+", ..., "u", "t", "h") and which positions hold
// a digit (the probes' targets).
struct ProbeLayout {
  int length = 0;
  std::vector<std::string> labels;
  std::vector<int> digit_positions;
};
ProbeLayout probe_layout(const TaskFormat& format);

struct LayerPair {
  int from = 0, to = 0;
};
// (l, l+1) for every block, then (0, L).
std::vector<LayerPair> analysed_pairs(int layers);

// M[i, j] = linear CKA between from[i] and to[j] (each P×d); an empty slot (excluded) gives NaN.
Eigen::MatrixXd cka_matrix(const std::vector<Eigen::MatrixXd>& from, const std::vector<Eigen::MatrixXd>& to);
// The same with both estimators of HSIC (stats.hpp: linear_cka_both) from one pass.
struct CkaMatrices {
  Eigen::MatrixXd biased, unbiased;
};
CkaMatrices cka_matrices(const std::vector<Eigen::MatrixXd>& from, const std::vector<Eigen::MatrixXd>& to);

// D and A of a CKA matrix (NaN entries are excluded slots and are skipped).
double diagonality_index(const Eigen::MatrixXd& m);
double argmax_rate(const Eigen::MatrixXd& m);

// ---- What one analysis found (analysis.json holds exactly this; NaN is written as null) ------------

// A slot whose activations are constant up to rounding: it has no variance to correlate or probe.
struct ExcludedSlot {
  int layer = 0, position = 0;
  std::string token;
};

// The layer pair (from, to): D = mean_i M[i,i] / mean_{i≠j} M[i,j] of the CKA matrix, from the
// biased and the unbiased HSIC estimator, their logs, and the argmax rate A.
struct PairMeasures {
  int from = 0, to = 0;
  double diagonality_index = kNaN, log_diagonality_index = kNaN;
  double diagonality_index_unbiased = kNaN, log_diagonality_index_unbiased = kNaN;
  double argmax_rate = kNaN;
  std::string pearson_file;  // pearson_<from>_<to>.npy beside analysis.json
};

// Token retention of the stream after `layer` blocks: matrix(k, q) is the held-out accuracy of a
// probe reading the digit at digit_positions[q] from slot k (NaN: an excluded slot); own_token is the
// mean over k = digit_positions[q], other_tokens the mean over the rest.
struct StreamRetention {
  int layer = 0;
  double own_token = kNaN, other_tokens = kNaN;
  Eigen::MatrixXd matrix;
};

struct PositionProbe {
  int layer = 0;
  double accuracy = kNaN, chance = kNaN;
};

struct TokenCosine {
  std::string token;
  double cos = 0;
};
// cos(key of each token, mean query bias), ranked high to low; max_cos against the same statistic
// for random directions of the bias's norm (their mean and sd), as a z-score.
struct AlignmentStatistic {
  std::vector<TokenCosine> ranking;
  double max_cos = kNaN, null_mean = kNaN, null_sd = kNaN, z = kNaN;
};
struct HeadAlignment {
  int head = 0;
  AlignmentStatistic raw, actual;  // keys W_K·e_t from the embedding; the mean actual key of token t
};
struct LayerAlignment {
  int layer = 0;
  std::vector<HeadAlignment> heads;
};
struct Alignment {
  bool bias_enabled = false;
  std::string statistic;
  int random_directions = 0;
  double mean_z_raw = kNaN, mean_z_actual = kNaN;
  std::vector<LayerAlignment> layers;
};

struct RunAnalysis {
  std::string run, run_dir;
  std::uint64_t seed = 0;
  bool at_init = false;
  std::optional<int> at_step;
  int prompts = 0;
  ModelConfig model;
  ProbeLayout layout;  // the tokens ("tokens") and the digit positions
  double constant_spread_threshold = 0;
  std::vector<ExcludedSlot> excluded_slots;
  std::vector<PairMeasures> pairs;            // analysed_pairs(model.layers), in order
  std::vector<Eigen::MatrixXd> cka;           // per pair, n×n (analysis.json "pairs[p].cka")
  std::vector<Eigen::MatrixXd> pearson;       // per pair, (n·d)×(n·d), from the .npy files; empty when absent
  std::vector<StreamRetention> retention;     // stream 0..L
  std::vector<PositionProbe> position_probe;  // stream 0..L
  std::vector<double> self_attention_mass;    // block 1..L
  Alignment alignment;

  // The pair (from, to), or nullptr.
  const PairMeasures* pair(int from, int to) const;
  // "adamw-bqv-s11", "… at initialisation", "… at step 2000": for figure titles.
  std::string who() const;
};

// analysis.json, written and read back. Reading is strict: an unknown key, a missing field or a
// wrong type throws ConfigError naming the file and the field ("pairs[2].argmax_rate"). Fields
// added after the first analyses (at_step, log D, the unbiased D) may be absent and read as
// nullopt/NaN.
nlohmann::json analysis_to_json(const RunAnalysis& analysis);
RunAnalysis analysis_from_json(const nlohmann::json& json, const std::string& source);
RunAnalysis read_analysis_json(const std::string& path);

// Runs every measurement. Pure: writes nothing.
RunAnalysis analyze(const RunFiles& run, const AnalysisOptions& options);

// Writes analysis.json, cka.csv, retention.csv, pairs.csv, the Pearson matrices (.npy, float32) and the
// figures (pearson, cka, retention, each .png and .svg) into out_dir, atomically file by file.
void write_analysis(const RunAnalysis& analysis, const std::string& out_dir);

// An analysis read back from a directory write_analysis wrote (analysis.json and, with_pearson, the
// Pearson .npy files); nullopt when there is no analysis.json, or when with_pearson and its Pearson
// files are absent (git keeps only analysis.json of a committed run).
std::optional<RunAnalysis> load_analysis(const std::string& dir, bool with_pearson = true);

// The paper's picture for several analyses at once: one row of panels per analysis (a condition),
// one column per layer pair. Writes <stem>.png and <stem>.svg.
void write_pearson_grid(const std::vector<const RunAnalysis*>& rows, const std::vector<std::string>& row_labels,
                        const std::string& title, const std::string& stem);

}  // namespace symbreak::experiments
