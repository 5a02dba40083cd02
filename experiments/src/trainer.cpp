#include "symbreak/experiments/trainer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "symbreak/backward.hpp"
#include "symbreak/experiments/optimizer.hpp"
#include "symbreak/experiments/step.hpp"
#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"
#include "symbreak/rng.hpp"

// OpenBLAS is the BLAS symbreak builds with (CMakeLists.txt: BLA_VENDOR OpenBLAS, REQUIRED).
extern "C" void openblas_set_num_threads(int);
#ifdef _OPENMP
#include <omp.h>
#endif

// OpenBLAS picks its GEMM kernels by the CPU at run time, and kernels round differently: run.json
// records which trained the run, so that a replay (reproduce --verify) can use the same.
extern "C" char* openblas_get_corename(void);

namespace symbreak::experiments {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kMagic[] = "SBCKPT03";  // bump when the layout changes
// 03 added each metrics row's test loss; a checkpoint of 02 still resumes (its rows without it).
constexpr char kMagicWithoutTestLoss[] = "SBCKPT02";

struct State {
  int step = 0;
  std::uint64_t data_rng = 0, bias_rng = 0;
  double wall = 0;
  std::vector<MetricsRow> metrics;
};

std::string checkpoint_bytes(const TrainConfig& c, std::uint64_t seed, const State& s, const Optimizer& opt,
                             const Weights<float>& w) {
  std::ostringstream out;
  out.write(kMagic, 8);
  write_u64(out, c.json.size());
  out.write(c.json.data(), static_cast<std::streamsize>(c.json.size()));
  write_u64(out, seed);
  write_u64(out, static_cast<std::uint64_t>(s.step));
  write_u64(out, s.data_rng);
  write_u64(out, s.bias_rng);
  write_f64(out, s.wall);
  write_u64(out, s.metrics.size());
  for (const MetricsRow& r : s.metrics) {
    write_u64(out, static_cast<std::uint64_t>(r.step));
    for (double v : {r.loss, r.eval.exact_match, r.eval.per_digit[0], r.eval.per_digit[1], r.eval.per_digit[2],
                     r.eval.per_digit[3], r.lr, r.tokens_per_second, r.wall_seconds, r.eval.test_loss})
      write_f64(out, v);
  }
  opt.save(out);
  out << weights_bytes(w);
  return out.str();
}

void load_checkpoint(const std::string& path, const TrainConfig& c, std::uint64_t seed, State& s, Optimizer& opt,
                     Weights<float>& w) {
  std::istringstream in(read_file(path));
  char magic[8];
  if (!in.read(magic, 8) || std::string(magic, 6) != std::string(kMagic, 6))
    throw ConfigError(path + ": not a symbreak checkpoint");
  const bool has_test_loss = std::string(magic, 8) == std::string(kMagic, 8);
  if (!has_test_loss && std::string(magic, 8) != std::string(kMagicWithoutTestLoss, 8))
    throw ConfigError(path + ": checkpoint format " + std::string(magic + 6, 2) +
                      " was written by another symbreak version (this one reads " + std::string(kMagic + 6, 2) +
                      "); use another --out");
  const std::uint64_t n = read_u64(in);
  std::string json(n, '\0');
  in.read(json.data(), static_cast<std::streamsize>(n));
  if (json != c.json) throw ConfigError(path + ": the checkpoint was written with a different config; use another --out");
  if (read_u64(in) != seed) throw ConfigError(path + ": the checkpoint was written with a different --seed");
  s.step = static_cast<int>(read_u64(in));
  s.data_rng = read_u64(in);
  s.bias_rng = read_u64(in);
  s.wall = read_f64(in);
  s.metrics.resize(read_u64(in));
  for (MetricsRow& r : s.metrics) {
    r.step = static_cast<int>(read_u64(in));
    r.loss = read_f64(in);
    r.eval.exact_match = read_f64(in);
    for (double& d : r.eval.per_digit) d = read_f64(in);
    r.lr = read_f64(in);
    r.tokens_per_second = read_f64(in);
    r.wall_seconds = read_f64(in);
    if (has_test_loss) r.eval.test_loss = read_f64(in);
  }
  opt.load(in);
  std::ostringstream rest;
  rest << in.rdbuf();
  load_weights_bytes(rest.str(), w);
}

}  // namespace

int checkpoint_step(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  if (!in || !in.read(magic, 8) ||
      (std::string(magic, 8) != std::string(kMagic, 8) && std::string(magic, 8) != std::string(kMagicWithoutTestLoss, 8)))
    return -1;
  try {
    in.seekg(static_cast<std::streamoff>(read_u64(in)), std::ios::cur);  // the config
    read_u64(in);                                                        // the seed
    return static_cast<int>(read_u64(in));
  } catch (const std::runtime_error&) {
    return -1;
  }
}

namespace {

class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir) {
    fd_ = ::open((dir + "/.train.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw ConfigError("--out " + dir + ": cannot create " + dir + "/.train.lock");
    for (int i = 0; flock(fd_, LOCK_EX | LOCK_NB) != 0; ++i) {
      if (i == 300) {
        ::close(fd_);
        throw ConfigError("--out " + dir + ": another symbreak train is writing to this directory");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~DirectoryLock() { ::close(fd_); }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

void require_writable(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) throw ConfigError("--out " + dir + ": cannot create the directory");
  const std::string probe = dir + "/.write-test";
  {
    std::ofstream f(probe);
    if (!f || !(f << "ok")) throw ConfigError("--out " + dir + ": the directory is not writable");
  }
  std::filesystem::remove(probe, ec);
}

}  // namespace

void set_threads(int threads) {
  openblas_set_num_threads(1);  // parallel over the batch instead (step.hpp)
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  (void)threads;
}

void set_unlearned_biases(Model<float>& m, const BiasConfig& b, Rng* rng) {
  if (!b.enabled) return;
  const int heads = m.config.heads, dh = m.config.d_head();
  for (auto& layer : m.unlearned_bias) {
    std::vector<float> q(dh), v(dh), k(dh);
    for (int c = 0; c < dh; ++c) {
      const double q_std = b.query_std_first + (dh > 1 ? (b.query_std_last - b.query_std_first) * c / (dh - 1) : 0.0);
      q[c] = static_cast<float>(b.query_mean + (rng ? q_std * rng->normal() : 0.0));
      v[c] = static_cast<float>(b.value_mean + (rng ? b.value_std * rng->normal() : 0.0));
      k[c] = static_cast<float>(b.key_mean + (rng ? b.key_std * rng->normal() : 0.0));
    }
    const auto fill = [&](Tensor<float>& t, const std::vector<float>& row) {
      t = Tensor<float>(heads, dh);
      for (int h = 0; h < heads; ++h)
        for (int c = 0; c < dh; ++c) t(h, c) = row[c];
    };
    // Every value is drawn whether or not it is used, so switching one bias off leaves the others' draws as they were.
    if (b.query) fill(layer.query, q);
    if (b.value) fill(layer.value, v);
    if (b.key) fill(layer.key, k);
  }
}

namespace {

// The config as run (--steps and --threads overrides replace the file's values) and the seed, written
// at the start: with weights.bin, everything an analysis of this run needs. Returns the config.
nlohmann::json write_run_description(const TrainOptions& options, int steps, int threads) {
  nlohmann::json effective = nlohmann::json::parse(options.config.json);
  effective["train"]["steps"] = steps;
  effective["train"]["threads"] = threads;
  for (const char* derived : {"vocab_size", "context_length"}) effective["model"].erase(derived);  // the task sets them
  const ProductBlocking blocking = product_blocking();
  write_file_atomically(options.out_dir + "/config.json", effective.dump(2) + "\n");
  write_file_atomically(options.out_dir + "/run.json",
                        nlohmann::json{{"seed", options.seed},
                                       {"steps", steps},
                                       {"threads", threads},
                                       {"test_held_out", true},
                                       {"engine", kTrainingEngine},
                                       {"blas_kernels", openblas_get_corename()},
                                       {"product_blocking", {blocking.l1, blocking.l2, blocking.l3}}}
                                .dump(2) + "\n");
  return effective;
}

// One optimisation step after another: the step's examples, freshly drawn biases, the gradient
// passes, clipping, the update. Holds the buffers, so a step allocates nothing.
class Stepper {
 public:
  Stepper(const TrainConfig& c, Model<float>& model, Optimizer& optimizer, int threads, std::vector<bool> held_out)
      : c_(c), task_(c.format), model_(model), optimizer_(optimizer), runner_(c.model, threads), batch_seqs_(c.batch),
        held_out_(std::move(held_out)) {
    for (auto& [name, t] : named_parameters(model.weights)) params_.push_back(t);
    for (auto& [name, t] : named_parameters(runner_.gradients())) grads_.push_back(t);
  }

  // Runs the next step at learning rate lr; returns its loss and adds the tokens it fed.
  double run(State& state, double lr, std::uint64_t& tokens_fed) {
    Rng data(state.data_rng);
    for (auto& s : batch_seqs_) {
      const auto [a, b] = AdditionTask::sample_training(data, held_out_);  // never a test pair
      s = task_.encode(a, b);
    }
    state.data_rng = data.state();
    Rng bias(state.bias_rng);
    set_unlearned_biases(model_, c_.bias, &bias);
    state.bias_rng = bias.state();
    runner_.zero();

    // Causal: one pass over the whole sequence, a target at the position before each answer digit.
    // Otherwise: one pass per answer digit over its prefix, the target at the last position, so the
    // model never sees the digit it predicts.
    const bool causal = c_.model.mask == MaskKind::causal;
    const int passes = causal ? 1 : AdditionTask::kAnswerDigits, prompt = task_.prompt_length();
    // Causal input: the prompt and the first three answer digits. The last digit (and a closing '$')
    // is only ever a target, and under a causal mask a position's output cannot reach earlier ones,
    // so feeding it would cost a twelfth of the step for nothing.
    const int full = prompt + AdditionTask::kAnswerDigits - 1;
    double loss = 0;
    for (int pass = 0; pass < passes; ++pass) {
      const int n = causal ? full : prompt + pass;
      tokens_.clear();
      targets_.assign(static_cast<std::size_t>(c_.batch) * n, -1);
      for (int i = 0; i < c_.batch; ++i) {
        const std::vector<int>& s = batch_seqs_[i];
        tokens_.insert(tokens_.end(), s.begin(), s.begin() + n);
        if (causal)
          for (int k = 0; k < AdditionTask::kAnswerDigits; ++k) targets_[i * n + prompt - 1 + k] = s[prompt + k];
        else targets_[i * n + n - 1] = s[prompt + pass];
      }
      loss += runner_.accumulate(model_, tokens_, c_.batch, n, targets_, 1.0 / passes) / passes;
      tokens_fed += tokens_.size();
    }
    runner_.reduce();
    const std::vector<const Tensor<float>*> grads(grads_.begin(), grads_.end());
    grad_norm_ = gradient_norm(grads);
    const double scale = c_.grad_clip > 0 ? clip_scale(grad_norm_, c_.grad_clip) : 1.0;
    optimizer_.step(params_, grads, loss, lr, scale);
    return loss;
  }

  // The last step's (last pass's) tokens and targets, and its gradient norm before clipping.
  const std::vector<int>& tokens() const { return tokens_; }
  const std::vector<int>& targets() const { return targets_; }
  double grad_norm() const { return grad_norm_; }
  Weights<float>& gradients() { return runner_.gradients(); }  // the last step's, before clipping

 private:
  const TrainConfig& c_;
  const AdditionTask task_;
  Model<float>& model_;
  Optimizer& optimizer_;
  GradientRunner runner_;
  std::vector<Tensor<float>*> params_, grads_;
  std::vector<int> tokens_, targets_;
  double grad_norm_ = 0;
  std::vector<std::vector<int>> batch_seqs_;  // this step's examples, encoded
  const std::vector<bool> held_out_;          // the test pairs, which training never draws
};

// Writes a training trace (TrainOptions::trace_dir): everything another implementation needs to replay
// the run step by step and compare, as .npy files.
class TraceWriter {
 public:
  TraceWriter(const TrainOptions& o, int steps) : o_(o) {
    const TrainConfig& c = o.config;
    if (c.model.mask != MaskKind::causal)
      throw ConfigError("--trace: model.mask must be \"causal\" (a trace records one pass per step)");
    if (c.bias.enabled) throw ConfigError("--trace: symmetry_breaking_bias.enabled must be false (the biases are random per step)");
    if (o.resume) throw ConfigError("--trace cannot be combined with --resume (the trace starts at step 0)");
    for (int k : o.trace_snapshots)
      if (k < 1 || k > steps) throw ConfigError("--trace: snapshot step " + std::to_string(k) + " is outside 1.." + std::to_string(steps));
    std::error_code ec;
    std::filesystem::create_directories(o.trace_dir + "/init", ec);
    if (ec) throw ConfigError("--trace " + o.trace_dir + ": cannot create the directory");
  }

  void weights(const std::string& dir, const Weights<float>& w) const {
    std::filesystem::create_directories(dir);
    for (const auto& [name, t] : named_parameters(w))
      write_file_atomically(dir + "/" + name + ".npy", npy_bytes(t->data, shape(*t)));
  }

  bool snapshot(int step) const {
    return std::find(o_.trace_snapshots.begin(), o_.trace_snapshots.end(), step) != o_.trace_snapshots.end();
  }

  // `before`: the model before this step, kept for snapshot steps. Besides the state after the step,
  // a snapshot keeps the step's gradient before clipping (NAME.grad.npy) and the same model's loss and
  // gradient on the same batch in double (NAME.grad64.npy, double.json): the trainer's float32 engine
  // and the one model definition in double, for the parity test's float64 comparison.
  void step(int step, Stepper& stepper, double lr, double loss, const Weights<float>& w, const Optimizer& optimizer,
            const Model<float>* before) {
    if (n_ == 0) n_ = static_cast<int>(stepper.tokens().size()) / o_.config.batch;
    tokens_.insert(tokens_.end(), stepper.tokens().begin(), stepper.tokens().end());
    targets_.insert(targets_.end(), stepper.targets().begin(), stepper.targets().end());
    lr_.push_back(lr);
    loss_.push_back(loss);
    grad_norm_.push_back(stepper.grad_norm());
    if (!snapshot(step)) return;
    const std::string dir = o_.trace_dir + "/step_" + std::to_string(step);
    weights(dir, w);
    const auto params = named_parameters(w);
    for (const auto& [name, g] : named_parameters(stepper.gradients()))
      write_file_atomically(dir + "/" + name + ".grad.npy", npy_bytes(g->data, shape(*g)));
    if (before) {
      const Model<double> m = convert_model<double>(*before);
      Activations<double> acts;
      forward(m, stepper.tokens(), o_.config.batch, n_, acts);
      Tensor<double> dlogits;
      const double loss64 = cross_entropy(dlogits, acts.logits, stepper.targets());
      Weights<double> grads = zero_weights<double>(m.config);
      backward(m, stepper.tokens(), acts, dlogits, grads);
      for (const auto& [name, g] : named_parameters(grads))
        write_file_atomically(dir + "/" + name + ".grad64.npy", npy_bytes(g->data, shape(*g)));
      write_file_atomically(dir + "/double.json", nlohmann::json{{"loss", loss64}}.dump() + "\n");
    }
    for (const auto& [state_name, per_param] : optimizer.state())
      for (std::size_t i = 0; i < per_param->size() && i < params.size(); ++i)
        write_file_atomically(dir + "/" + params[i].first + "." + state_name + ".npy",
                              npy_bytes((*per_param)[i], shape(*params[i].second)));
  }

  void finish() const {
    const std::size_t steps = lr_.size(), batch = static_cast<std::size_t>(o_.config.batch), n = static_cast<std::size_t>(n_);
    write_file_atomically(o_.trace_dir + "/tokens.npy", npy_bytes(std::vector<std::int32_t>(tokens_.begin(), tokens_.end()), {steps, batch, n}));
    write_file_atomically(o_.trace_dir + "/targets.npy", npy_bytes(std::vector<std::int32_t>(targets_.begin(), targets_.end()), {steps, batch, n}));
    write_file_atomically(o_.trace_dir + "/lr.npy", npy_bytes(lr_, {steps}));
    write_file_atomically(o_.trace_dir + "/loss.npy", npy_bytes(loss_, {steps}));
    write_file_atomically(o_.trace_dir + "/grad_norm.npy", npy_bytes(grad_norm_, {steps}));
    const nlohmann::json j = {{"seed", o_.seed},       {"steps", steps},        {"batch", batch},
                              {"n", n},                {"snapshots", o_.trace_snapshots},
                              {"config", nlohmann::json::parse(o_.config.json)}};
    write_file_atomically(o_.trace_dir + "/trace.json", j.dump(2) + "\n");
  }

 private:
  template <class T>
  static std::vector<std::size_t> shape(const Tensor<T>& t) {
    return {static_cast<std::size_t>(t.rows), static_cast<std::size_t>(t.cols)};
  }
  const TrainOptions& o_;
  int n_ = 0;  // the sequence length of every step (causal: one pass each)
  std::vector<int> tokens_, targets_;
  std::vector<double> lr_, loss_, grad_norm_;
};

}  // namespace

std::string kept_weights_path(const std::string& run_dir, int step) {
  return run_dir + "/weights-step" + std::to_string(step) + ".bin";
}

TrainResult train(const TrainOptions& options) {
  const TrainConfig& c = options.config;
  const int steps = options.steps.value_or(c.steps);
  const int threads = options.threads.value_or(c.threads);
  for (int k : options.keep_weights_at)
    if (k < 1 || k > steps)
      throw ConfigError("--keep-weights-at: step " + std::to_string(k) + " is outside 1.." + std::to_string(steps));
  require_writable(options.out_dir);
  const DirectoryLock lock(options.out_dir);
  set_threads(threads);  // before anything runs in parallel
  set_product_blocking(options.product_blocking.value_or(kProductBlocking));
  const nlohmann::json effective = write_run_description(options, steps, threads);
  const AdditionTask task(c.format);
  const auto test_pairs = AdditionTask::test_set(c.test_size, c.test_seed);

  Model<float> model = make_model<float>(c.model, options.seed);
  std::unique_ptr<Optimizer> optimizer = make_optimizer(c.optimizer, options.seed);
  State state;
  state.data_rng = stream_seed(options.seed, "train.data");
  state.bias_rng = stream_seed(options.seed, "train.bias");
  TrainResult result;
  const std::string checkpoint = options.out_dir + "/checkpoint.bin";
  if (options.resume && std::filesystem::exists(checkpoint)) {
    load_checkpoint(checkpoint, c, options.seed, state, *optimizer, model.weights);
    result.resumed = true;
    result.resumed_from = state.step;
    write_file_atomically(options.out_dir + "/metrics.csv", metrics_csv(state.metrics));
  }

  Stepper stepper(c, model, *optimizer, threads, AdditionTask::held_out_mask(test_pairs));
  std::optional<TraceWriter> trace;
  if (!options.trace_dir.empty()) {
    trace.emplace(options, steps);
    trace->weights(options.trace_dir + "/init", model.weights);
  }
  // The current metrics window: the steps since the last evaluation.
  double window_loss = 0;
  int window_steps = 0;
  std::uint64_t window_tokens = 0;
  auto window_start = Clock::now();
  const auto run_start = Clock::now();
  const double wall_before = state.wall;
  const auto wall_now = [&] { return wall_before + std::chrono::duration<double>(Clock::now() - run_start).count(); };

  for (int step = state.step; step < steps; ++step) {
    const double lr = learning_rate(c, step);
    std::optional<Model<float>> before;
    if (trace && trace->snapshot(step + 1)) before = model;
    const double loss = stepper.run(state, lr, window_tokens);
    state.step = step + 1;
    if (trace) trace->step(state.step, stepper, lr, loss, model.weights, *optimizer, before ? &*before : nullptr);
    window_loss += loss;
    ++window_steps;

    const double elapsed = std::chrono::duration<double>(Clock::now() - window_start).count();
    const double tokens_per_second = elapsed > 0 ? static_cast<double>(window_tokens) / elapsed : 0;
    Progress progress{
        state.step,
        steps,
        loss,
        tokens_per_second,
        tokens_per_second > 0 ? (steps - state.step) * static_cast<double>(window_tokens) / window_steps / tokens_per_second : 0,
        std::nullopt};
    if (state.step % c.eval_every == 0 || state.step == steps) {
      set_unlearned_biases(model, c.bias, nullptr);  // evaluation: the biases at their means
      MetricsRow row;
      row.step = state.step;
      row.loss = window_loss / window_steps;
      row.eval = evaluate(model, task, test_pairs, threads);
      row.lr = lr;
      row.tokens_per_second = tokens_per_second;
      row.wall_seconds = wall_now();
      state.metrics.push_back(row);
      write_file_atomically(options.out_dir + "/metrics.csv", metrics_csv(state.metrics));
      progress.eval = row.eval;
      window_loss = 0;
      window_steps = 0;
      window_tokens = 0;
      window_start = Clock::now();
    }
    if (options.progress) options.progress(progress);
    if (std::find(options.keep_weights_at.begin(), options.keep_weights_at.end(), state.step) != options.keep_weights_at.end()) {
      write_file_atomically(kept_weights_path(options.out_dir, state.step), weights_bytes(model.weights));
    }
    if (state.step % c.checkpoint_every == 0 || state.step == steps) {
      state.wall = wall_now();
      write_file_atomically(checkpoint, checkpoint_bytes(c, options.seed, state, *optimizer, model.weights));
    }
  }

  state.wall = wall_now();
  set_unlearned_biases(model, c.bias, nullptr);
  result.final_eval = state.metrics.empty() ? evaluate(model, task, test_pairs, threads) : state.metrics.back().eval;
  result.final_loss = state.metrics.empty() ? 0 : state.metrics.back().loss;
  result.steps = state.step;
  result.wall_seconds = state.wall;
  result.metrics = state.metrics;
  const nlohmann::json final_json = {{"test_exact_match", result.final_eval.exact_match},
                                     {"test_loss", result.final_eval.test_loss},
                                     {"per_digit_accuracy", result.final_eval.per_digit},
                                     {"final_loss", result.final_loss},
                                     {"steps", result.steps},
                                     {"wall_seconds", result.wall_seconds},
                                     {"seed", options.seed},
                                     {"threads", threads},
                                     {"resumed_from", result.resumed ? result.resumed_from : 0},
                                     {"test_size", static_cast<int>(test_pairs.size())},
                                     {"test_held_out", true},
                                     {"config", effective}};
  write_file_atomically(options.out_dir + "/final.json", final_json.dump(2) + "\n");
  write_file_atomically(options.out_dir + "/weights.bin", weights_bytes(model.weights));
  if (trace) trace->finish();
  return result;
}

}  // namespace symbreak::experiments
