// Training the reference model on 3-digit addition: the same model definition as everywhere else,
// its hand-written backward pass, an optimizer and a schedule; evaluation by greedy decoding;
// atomic checkpoints that resume bit-identically.
#pragma once

#include <array>
#include <limits>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "symbreak/experiments/task.hpp"
#include "symbreak/experiments/train_config.hpp"
#include "symbreak/layers.hpp"
#include "symbreak/model.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::experiments {

struct Evaluation {
  double exact_match = 0;             // all four answer digits right
  std::array<double, 4> per_digit{};  // digit k right (greedy decoding: after the model's own digits)
  // Mean cross-entropy (nats) of the four true answer digits, each given the prompt and the true digits
  // before it (teacher forcing). NaN in rows of runs from before it was measured (2026-12-06).
  double test_loss = std::numeric_limits<double>::quiet_NaN();
};

// Greedy autoregressive decoding of the four answer digits for every pair, and the teacher-forced
// test loss. Each digit is read at the last position of its prefix: one forward pass per prefix length
// for a model without a mask (so it never sees the digit it predicts); a causal model's teacher-forced
// logits come from one pass over the prompt and the first three true digits.
Evaluation evaluate(const Model<float>& model, const AdditionTask& task, const std::vector<std::pair<int, int>>& pairs,
                    int threads = 1);

struct MetricsRow {
  int step = 0;  // steps completed
  double loss = 0;
  Evaluation eval;
  double lr = 0;
  double tokens_per_second = 0;
  double wall_seconds = 0;  // training time so far, across resumes (evaluation included)
};

struct Progress {
  int step = 0, steps = 0;
  double loss = 0, tokens_per_second = 0, eta_seconds = 0;
  std::optional<Evaluation> eval;  // set at evaluation steps
};

// The training engine's generation, recorded in run.json: bumped whenever a change makes the same
// config, seed and thread count train to different bits. reproduce --verify tells a committed run it
// cannot replay bit for bit (an older engine) from a regression with it. Each change, with the time
// it landed (runs without "engine" in run.json are dated by it):
struct EngineChange {
  int engine;
  const char* since_utc;
  const char* what;
};
inline constexpr int kTrainingEngine = 3;
inline constexpr EngineChange kEngineHistory[] = {
    {2, "2026-12-04T15:20:56Z", "training draws exclude the test pairs (ab53d54; run.json records test_held_out)"},
    {3, "2026-12-05T07:05:49Z", "AdamW forms 1 - beta2 in double, as torch.optim.AdamW does (fa0b6ce)"},
};

struct TrainOptions {
  TrainConfig config;
  std::uint64_t seed = 1;
  std::string out_dir;
  std::optional<int> steps;    // overrides config.steps
  std::optional<int> threads;  // overrides config.threads
  bool resume = false;         // continue from out_dir/checkpoint.bin if it exists
  std::function<void(const Progress&)> progress;
  // A training trace for parity with another implementation (experiments/parity): the initial weights,
  // every step's tokens, targets, learning rate, loss and gradient norm, and the weights and optimizer
  // state after the steps in trace_snapshots. Causal models without unlearned biases (one pass per
  // step, nothing random but the data); not with resume. Layout: write_trace below.
  std::string trace_dir;
  std::vector<int> trace_snapshots{1, 10, 100};
  // Steps after which the weights are kept as out_dir/weights-step<N>.bin (for an analysis part-way
  // through training, such as residual-slices' step 2,000). Written atomically; a resumed run that
  // already passed a step keeps the file it wrote then.
  std::vector<int> keep_weights_at;
  // The cache sizes Eigen blocks its products by (core's layers.hpp); unset: kProductBlocking, the
  // same on every machine. run.json records them.
  std::optional<ProductBlocking> product_blocking;
};

// The file train() keeps the weights of step `step` in (keep_weights_at).
std::string kept_weights_path(const std::string& run_dir, int step);

struct TrainResult {
  Evaluation final_eval;
  double final_loss = 0;
  int steps = 0;
  double wall_seconds = 0;
  bool resumed = false;
  int resumed_from = 0;
  std::vector<MetricsRow> metrics;
};

// Writes metrics.csv, final.json, weights.bin and checkpoint.bin into out_dir. With trace_dir:
//   trace_dir/init/NAME.npy                   float32, the weights before step 1 (named_parameters names)
//   trace_dir/tokens.npy, targets.npy         int32 [steps][batch][n] (target −1: no loss at that position)
//   trace_dir/lr.npy, loss.npy, grad_norm.npy float64 [steps] (grad_norm before clipping)
//   trace_dir/step_K/NAME.npy, NAME.STATE.npy the weights and optimizer state after step K
//   trace_dir/trace.json                      seed, steps, batch, n, snapshots, the config Throws ConfigError when
// out_dir cannot be written (before training) or the checkpoint belongs to another run.
TrainResult train(const TrainOptions& options);

// A run's metrics.csv read back (the rows train() wrote, in order). Throws std::runtime_error naming the
// file, the line and the column when it is missing, has another header or a field is not a number.
std::vector<MetricsRow> read_metrics_csv(const std::string& path);
// The text of metrics.csv for these rows (what read_metrics_csv reads back).
std::string metrics_csv(const std::vector<MetricsRow>& rows);

// The step a checkpoint file was written at, or -1 when there is none (or it is not a readable checkpoint
// of this format).
int checkpoint_step(const std::string& path);

// The model's weights in a small binary format (named tensors), and back.
std::string weights_bytes(const Weights<float>& weights);
void load_weights_bytes(const std::string& bytes, Weights<float>& weights);

// Draws the unlearned biases of every layer (shared by the layer's heads) from `rng`, or, with no
// generator, sets them to their means (evaluation and analysis). Does nothing when b.enabled is false.
void set_unlearned_biases(Model<float>& model, const BiasConfig& b, Rng* rng);

// Sets the threads used by GEMM and by the loops (OpenMP), for deterministic, repeatable runs.
void set_threads(int threads);

}  // namespace symbreak::experiments
