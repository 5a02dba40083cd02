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

struct RunAnalysis {
  nlohmann::json json;                   // everything analysis.json holds
  std::vector<Eigen::MatrixXd> pearson;  // per analysed pair, (n·d)×(n·d)
  std::vector<Eigen::MatrixXd> cka;      // per analysed pair, n×n
  ProbeLayout layout;
  int d_model = 0;
};

// Runs every measurement. Pure: writes nothing.
RunAnalysis analyze(const RunFiles& run, const AnalysisOptions& options);

// Writes analysis.json, cka.csv, retention.csv, pairs.csv, the Pearson matrices (.npy, float32) and the
// figures (pearson, cka, retention, each .png and .svg) into out_dir, atomically file by file.
void write_analysis(const RunAnalysis& analysis, const std::string& out_dir);

// An analysis read back from a directory write_analysis wrote (analysis.json and the Pearson .npy
// files); nullopt when there is none, or when its Pearson files are absent (git keeps only
// analysis.json of a committed run).
std::optional<RunAnalysis> load_analysis(const std::string& dir);

// The paper's picture for several analyses at once: one row of panels per analysis (a condition),
// one column per layer pair. Writes <stem>.png and <stem>.svg.
void write_pearson_grid(const std::vector<const RunAnalysis*>& rows, const std::vector<std::string>& row_labels,
                        const std::string& title, const std::string& stem);

}  // namespace symbreak::experiments
