// The training engine: the task, the optimizers, learning, determinism and bit-identical resume.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "symbreak/experiments/optimizer.hpp"
#include "symbreak/experiments/step.hpp"
#include "symbreak/experiments/task.hpp"
#include "symbreak/experiments/trainer.hpp"
#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"

namespace symbreak::experiments {
namespace {

using ::testing::HasSubstr;

TEST(AdditionTask, EncodesLeastSignificantDigitFirst) {
  const AdditionTask plain({});
  EXPECT_EQ(AdditionTask::render(plain.encode(123, 456)), "123+456=9750");
  EXPECT_EQ(AdditionTask::render(plain.encode(7, 5)), "007+005=2100");
  EXPECT_EQ(AdditionTask::render(plain.encode(999, 999)), "999+999=8991");
  EXPECT_EQ(plain.prompt_length(), 8);
  const AdditionTask formatted({true, true});
  EXPECT_EQ(AdditionTask::render(formatted.encode(123, 456)), "^123+456=$9750$");
  EXPECT_EQ(formatted.prompt_length(), 10);
  EXPECT_EQ(formatted.sequence_length(), 15);
  EXPECT_EQ(AdditionTask::test_set(2000, 1), AdditionTask::test_set(2000, 1));
  EXPECT_NE(AdditionTask::test_set(50, 1), AdditionTask::test_set(50, 2));
}

TEST(Optimizers, AdamWFirstStepMatchesHandComputation) {
  // After one step from m = v = 0: m̂ = g, v̂ = g², so p -= lr·g/(|g| + eps) = lr·sign(g) (nearly).
  OptimizerConfig c;
  c.lr = 0.1;
  auto opt = make_optimizer(c, 1);
  Tensor<float> p(1, 2), g(1, 2);
  p.data = {1.0f, -2.0f};
  g.data = {0.5f, -4.0f};
  opt->step({&p}, {&g}, 1.0, 0.1);
  EXPECT_NEAR(p.data[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-6);
  EXPECT_NEAR(p.data[1], -2.0 + 0.1 * 4.0 / (4.0 + 1e-8), 1e-6);
}

// ---- SOAP ----------------------------------------------------------------------------------------

Eigen::MatrixXd as_matrix(const Tensor<float>& t) {
  Eigen::MatrixXd m(t.rows, t.cols);
  for (int r = 0; r < t.rows; ++r)
    for (int c = 0; c < t.cols; ++c) m(r, c) = t(r, c);
  return m;
}
Tensor<float> as_tensor(const Eigen::MatrixXd& m) {
  Tensor<float> t(static_cast<int>(m.rows()), static_cast<int>(m.cols()));
  for (int r = 0; r < t.rows; ++r)
    for (int c = 0; c < t.cols; ++c) t(r, c) = static_cast<float>(m(r, c));
  return t;
}
OptimizerConfig soap_config() {
  OptimizerConfig c;
  c.name = "soap";
  c.lr = 0.01;
  c.beta1 = c.beta2 = 0.95;
  c.precondition_frequency = 3;
  return c;
}
constexpr double kFloatUnit = std::numeric_limits<float>::epsilon() / 2;  // u, float32's unit roundoff

// A vector is not preconditioned: after the set-up step (which moves nothing), SOAP is Adam step by
// step, computed here in double; the parameter differs only by its rounding to float at each step.
TEST(Optimizers, SoapOnAVectorIsAdamAfterItsSetUpStep) {
  const OptimizerConfig c = soap_config();
  auto opt = make_optimizer(c, 1);
  Tensor<float> p(1, 3), g(1, 3);
  p.data = {0.5f, -1.0f, 2.0f};
  g.data = {1, 2, 3};
  opt->step({&p}, {&g}, 0, c.lr);
  EXPECT_EQ(p.data, (std::vector<float>{0.5f, -1.0f, 2.0f})) << "the set-up step moves nothing";
  std::vector<double> w = {0.5, -1.0, 2.0}, m(3, 0), v(3, 0);
  for (int t = 1; t <= 5; ++t) {
    g.data = {0.3f * t, -1.0f, 2.0f / t};
    opt->step({&p}, {&g}, 0, c.lr);
    for (int k = 0; k < 3; ++k) {
      m[k] = c.beta1 * m[k] + (1 - c.beta1) * g.data[k];
      v[k] = c.beta2 * v[k] + (1 - c.beta2) * double{g.data[k]} * g.data[k];
      w[k] -= c.lr * std::sqrt(1 - std::pow(c.beta2, t)) / (1 - std::pow(c.beta1, t)) * m[k] / (std::sqrt(v[k]) + c.eps);
      // each step rounds the parameter to float once (u·|w|), and the roundings add up
      EXPECT_NEAR(p.data[k], w[k], 2 * t * kFloatUnit * (std::abs(w[k]) + 1)) << "step " << t << ", element " << k;
    }
  }
}

// The first update of a matrix is Adam's first update in the eigenbases of G₁G₁ᵀ and G₁ᵀG₁ (from the
// set-up step's gradient G₁): W₂ = W₁ − lr · Q_L [m'/(√v' + ε)] Q_Rᵀ with m' = (1−β1)·Q_Lᵀ G₂ Q_R and
// v' = (1−β2)·(Q_Lᵀ G₂ Q_R)², bias-corrected; eigenvectors' signs do not matter to it.
TEST(Optimizers, SoapFirstMatrixUpdateIsAdamInShampoosEigenbasis) {
  const OptimizerConfig c = soap_config();
  auto opt = make_optimizer(c, 1);
  Eigen::MatrixXd w0(4, 3), g1(4, 3), g2(4, 3);
  w0 << 0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9, -1.0, 1.1, 1.2;
  g1 << 1.0, 0.2, -0.3, 0.1, -2.0, 0.4, 0.5, 0.3, 3.0, -0.2, 0.6, 0.7;
  g2 << 0.3, -1.0, 0.2, 0.9, 0.4, -0.5, -0.6, 0.7, 0.1, 0.2, -0.3, 0.8;
  Tensor<float> p = as_tensor(w0), g = as_tensor(g1);
  opt->step({&p}, {&g}, 0, c.lr);
  EXPECT_EQ(as_matrix(p), as_matrix(as_tensor(w0))) << "the set-up step moves nothing";
  g = as_tensor(g2);
  opt->step({&p}, {&g}, 0, c.lr);
  const Eigen::MatrixXd q_left = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(g1 * g1.transpose()).eigenvectors();
  const Eigen::MatrixXd q_right = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(g1.transpose() * g1).eigenvectors();
  const Eigen::MatrixXd rotated = q_left.transpose() * as_matrix(as_tensor(g2)) * q_right;
  const Eigen::MatrixXd m = (1 - c.beta1) * rotated, v = (1 - c.beta2) * rotated.cwiseAbs2();
  const double step = c.lr * std::sqrt(1 - c.beta2) / (1 - c.beta1);
  const Eigen::MatrixXd adam = m.array() / (v.array().sqrt() + c.eps);
  const Eigen::MatrixXd expected = as_matrix(as_tensor(w0)) - step * q_left * adam * q_right.transpose();
  const Eigen::MatrixXd got = as_matrix(p);
  for (int r = 0; r < 4; ++r)
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(got(r, k), expected(r, k), 2 * kFloatUnit * (std::abs(expected(r, k)) + 1)) << r << "," << k;
  // Not Adam in the parameters' own basis, whose first update moves every element by lr·sign(g).
  const Eigen::MatrixXd coordinate_adam = as_matrix(as_tensor(w0)) - step * (1 - c.beta1) / std::sqrt(1 - c.beta2) *
                                                                     as_matrix(as_tensor(g2)).array().sign().matrix();
  EXPECT_GT((got - coordinate_adam).cwiseAbs().maxCoeff(), 0.1 * c.lr);
}

// SOAP's preconditioner co-rotates with the parameters: on f_t(W) = ½‖W − T_t‖², running it on
// W' = U W Vᵀ and T'_t = U T_t Vᵀ (U, V orthogonal) gives U W_t Vᵀ at every step, through several
// refreshes of the bases. Adam, whose preconditioner is tied to the coordinates, does not: the test
// has teeth. (The targets move from step to step: with one fixed target the first update would see
// the set-up step's gradient again, whose component along the null direction of G₁G₁ᵀ is rounding
// noise that Adam's first step turns into a full ±lr move, in SOAP as in its reference code.)
TEST(Optimizers, SoapIsEquivariantToOrthogonalReparametrisationAndAdamIsNot) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  const auto random = [&](int rows, int cols) { return Eigen::MatrixXd::NullaryExpr(rows, cols, [&] { return normal(rng); }); };
  const Eigen::MatrixXd u = Eigen::HouseholderQR<Eigen::MatrixXd>(random(5, 5)).householderQ();
  const Eigen::MatrixXd v = Eigen::HouseholderQR<Eigen::MatrixXd>(random(4, 4)).householderQ();
  const Eigen::MatrixXd w0 = random(5, 4);
  const int steps = 12;
  std::vector<Eigen::MatrixXd> targets;
  for (int t = 0; t < steps; ++t) targets.push_back(random(5, 4));
  const auto gap = [&](OptimizerConfig c) {
    auto plain = make_optimizer(c, 1), turned = make_optimizer(c, 1);
    Tensor<float> p = as_tensor(w0), q = as_tensor(u * w0 * v.transpose());
    for (int t = 0; t < steps; ++t) {
      Tensor<float> gp = as_tensor(as_matrix(p) - targets[t]), gq = as_tensor(as_matrix(q) - u * targets[t] * v.transpose());
      plain->step({&p}, {&gp}, 0, c.lr);
      turned->step({&q}, {&gq}, 0, c.lr);
    }
    return (u * as_matrix(p) * v.transpose() - as_matrix(q)).norm() / (as_matrix(p) - w0).norm();
  };
  OptimizerConfig soap = soap_config();
  soap.lr = 0.05;
  OptimizerConfig adam;
  adam.lr = 0.05;
  adam.beta1 = adam.beta2 = 0.95;
  const double soap_gap = gap(soap), adam_gap = gap(adam);
  // Each step rounds 20 parameters to float (u each) on both sides and rotates them; the relative gap
  // after `steps` steps stays within a few hundred u per step (the eigenbases, computed in double,
  // add nothing comparable). Adam's gap is of order one.
  const double bound = 256 * steps * kFloatUnit;
  std::cout << "relative gap after " << steps << " steps: SOAP " << soap_gap << " (bound " << bound << "), Adam " << adam_gap << "\n";
  EXPECT_LT(soap_gap, bound);
  EXPECT_GT(adam_gap, 0.05);
}

TEST(Optimizers, SgdMomentumAndNesterov) {
  for (bool nesterov : {false, true}) {
    OptimizerConfig c;
    c.name = "sgd";
    c.momentum = 0.5;
    c.nesterov = nesterov;
    auto opt = make_optimizer(c, 1);
    Tensor<float> p(1, 1), g(1, 1);
    p.data = {0};
    g.data = {1};
    opt->step({&p}, {&g}, 0, 1.0);  // buf = 1
    opt->step({&p}, {&g}, 0, 1.0);  // buf = 1.5
    // plain: -1 - 1.5 = -2.5; Nesterov: -(1 + 0.5) - (1 + 0.75) = -3.25
    EXPECT_FLOAT_EQ(p.data[0], nesterov ? -3.25f : -2.5f);
  }
}

TEST(Optimizers, EcdKeepsItsSpeedAndOnlyTurns) {
  // The velocity starts along −g at unit speed; the first move is exactly lr/√η·(−g/|g|). Later, the
  // gradient's component perpendicular to the velocity turns it, which can only lengthen the step
  // before the velocity is renormalised: every move is at least lr/√η.
  OptimizerConfig c;
  c.name = "ecd";
  c.eta = 4;
  c.F0 = -1;
  auto opt = make_optimizer(c, 1);
  Tensor<float> p(1, 3), g(1, 3);
  p.data = {0, 0, 0};
  g.data = {3, 0, 4};  // |g| = 5
  opt->step({&p}, {&g}, 1.0, 0.1);
  const double unit = 0.1 / std::sqrt(4.0);
  EXPECT_NEAR(p.data[0], -unit * 3 / 5, 1e-7);
  EXPECT_NEAR(p.data[1], 0, 1e-7);
  EXPECT_NEAR(p.data[2], -unit * 4 / 5, 1e-7);
  for (int step = 1; step < 6; ++step) {
    const std::vector<float> before = p.data;
    g.data = {1.0f + step, -2.0f, 0.5f * step};
    opt->step({&p}, {&g}, 1.0, 0.1);
    double moved = 0;
    for (int k = 0; k < 3; ++k) moved += std::pow(p.data[k] - before[k], 2);
    EXPECT_GE(std::sqrt(moved), unit * (1 - 1e-6)) << "step " << step;
  }
  // Below F0 the dynamics stop.
  const std::vector<float> before = p.data;
  opt->step({&p}, {&g}, -2.0, 0.1);
  EXPECT_EQ(p.data, before);
}

TrainConfig tiny_config(const std::string& mask, const std::string& pe, int checkpoint_every = 100) {
  std::ostringstream json;
  json << R"({"model": {"d_model": 64, "heads": 2, "layers": 2, "positional_encoding": ")" << pe << R"(", "mask": ")" << mask
       << R"("},
    "task": {"test_size": 500},
    "train": {"steps": 600, "batch": 64, "eval_every": 300, "checkpoint_every": )"
       << checkpoint_every << R"(, "threads": 2},
    "optimizer": {"name": "adamw", "lr": 0.002, "betas": [0.9, 0.98]},
    "schedule": {"name": "constant", "warmup_steps": 50}})";
  return parse_train_config(json.str(), "test.json");
}

std::string scratch(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/symbreak_train_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

// A bounded run (well under a minute): the loss falls far below its start and the accuracy rises above
// chance (0.1 per digit).
TEST(Training, TinyCausalLearns) {
  TrainOptions o;
  o.config = tiny_config("causal", "learned");
  o.out_dir = scratch("learns");
  const TrainResult r = train(o);
  ASSERT_EQ(r.metrics.size(), 2u);
  EXPECT_LT(r.metrics.back().loss, 0.6 * std::log(14.0)) << "the loss must fall well below ln(vocabulary)";
  double mean_digit = 0;
  for (double d : r.final_eval.per_digit) mean_digit += d / 4;
  EXPECT_GT(mean_digit, 0.3) << "per-digit accuracy must rise well above chance (0.1)";
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/weights.bin"));
  // metrics.csv reads back as the rows train() returned, to the digits it prints.
  const std::vector<MetricsRow> read = read_metrics_csv(o.out_dir + "/metrics.csv");
  ASSERT_EQ(read.size(), r.metrics.size());
  for (std::size_t k = 0; k < read.size(); ++k) {
    EXPECT_EQ(read[k].step, r.metrics[k].step);
    EXPECT_NEAR(read[k].loss, r.metrics[k].loss, 5e-7) << "printed with 6 decimals";
    EXPECT_NEAR(read[k].eval.exact_match, r.metrics[k].eval.exact_match, 5e-5) << "printed with 4 decimals";
    for (int d = 0; d < 4; ++d) EXPECT_NEAR(read[k].eval.per_digit[d], r.metrics[k].eval.per_digit[d], 5e-5);
    EXPECT_NEAR(read[k].eval.test_loss, r.metrics[k].eval.test_loss, 5e-7);
  }
  EXPECT_LT(r.final_eval.test_loss, 0.6 * std::log(14.0)) << "the held-out loss falls too";
  const std::string final_json = read_file(o.out_dir + "/final.json");
  for (const char* key : {"test_exact_match", "per_digit_accuracy", "final_loss", "steps", "wall_seconds"})
    EXPECT_THAT(final_json, HasSubstr(key));
}

// Every reader of metrics.csv (sweep results, curves, reproduce --verify) goes through one strict parser.
TEST(Training, MetricsCsvReaderNamesTheBadLineAndColumn) {
  const std::string dir = scratch("metrics_csv");
  std::filesystem::create_directories(dir);
  const std::string header = "step,loss,test_exact_match,digit0,digit1,digit2,digit3,lr,tokens_per_s,wall_s\n";
  const auto reads = [&](const std::string& text) {
    write_file_atomically(dir + "/metrics.csv", text);
    return read_metrics_csv(dir + "/metrics.csv");
  };
  const auto rows = reads(header + "300,1.250000,0.5000,0.9,0.8,0.7,0.6,0.001,1234.5,2.00\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].step, 300);
  EXPECT_EQ(rows[0].eval.per_digit[3], 0.6);
  EXPECT_EQ(rows[0].wall_seconds, 2.0);
  const auto error_of = [&](const std::string& text) {
    try {
      reads(text);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(error_of("step,loss\n"), HasSubstr("line 1 is not the header"));
  EXPECT_THAT(error_of(header + "300,1.25,0.5\n"), HasSubstr("line 2 has 3 fields, not 10"));
  EXPECT_THAT(error_of(header + "300,1.25,0.5,0.9,0.8,0.7,0.6,0.001,1234.5,2.00\n300,nan?,0.5,0.9,0.8,0.7,0.6,0.001,1,2\n"),
              HasSubstr("line 3, column loss: 'nan?' is not a number"));
  EXPECT_THAT(error_of(header + "300,1.25,0.5,0.9,0.8,0.7,0.6,0.001,1234.5,2.0s\n"), HasSubstr("column wall_s: '2.0s' is not a number"));
  EXPECT_THROW(read_metrics_csv(dir + "/no-such-metrics.csv"), std::runtime_error);
}

// The trace the PyTorch parity test replays (experiments/parity/trajectory.py runs it end to end).
TEST(Training, TraceKeepsEveryStepsBatchAndTheSnapshotsState) {
  TrainOptions o;
  o.config = tiny_config("causal", "learned");
  o.steps = 3;
  o.out_dir = scratch("trace");
  o.trace_dir = o.out_dir + "/trace";
  o.trace_snapshots = {1, 3};
  train(o);
  const NpyArray init = read_npy(o.trace_dir + "/init/layers.0.w_qkv.npy");
  EXPECT_EQ(init.shape, (std::vector<std::size_t>{64, 192}));
  for (const char* f : {"tokens.npy", "targets.npy", "lr.npy", "loss.npy", "grad_norm.npy", "trace.json"})
    EXPECT_TRUE(std::filesystem::exists(o.trace_dir + "/" + f)) << f;
  for (const char* f : {"layers.1.ln2_gain.npy", "layers.1.ln2_gain.exp_avg.npy", "layers.1.ln2_gain.exp_avg_sq.npy",
                        "unembedding.grad.npy", "unembedding.grad64.npy", "double.json"}) {
    EXPECT_TRUE(std::filesystem::exists(o.trace_dir + "/step_1/" + f)) << f;
    EXPECT_TRUE(std::filesystem::exists(o.trace_dir + "/step_3/" + f)) << f;
  }
  EXPECT_FALSE(std::filesystem::exists(o.trace_dir + "/step_2"));
  // The snapshot after step 3 is the run's final weights.
  Model<float> m = make_model<float>(o.config.model, 1);
  load_weights_bytes(read_file(o.out_dir + "/weights.bin"), m.weights);
  EXPECT_EQ(read_npy(o.trace_dir + "/step_3/layers.0.w_qkv.npy").f4, m.weights.layers[0].w_qkv.data);
}

// A causal model's test loss comes from one teacher-forced pass over the prompt and three true digits;
// it must equal the loss read prefix by prefix (the way a model without a mask is read), which the
// causal mask makes the same quantity. The two differ only by float summation order in passes of
// different lengths.
TEST(Training, CausalTestLossFromOnePassEqualsThePrefixByPrefixLoss) {
  const TrainConfig c = tiny_config("causal", "learned");
  const Model<float> model = make_model<float>(c.model, 3);
  const AdditionTask task(c.format);
  const auto pairs = AdditionTask::test_set(300, 5);
  const Evaluation e = evaluate(model, task, pairs, 2);
  const int prompt = task.prompt_length(), batch = static_cast<int>(pairs.size());
  double reference = 0, largest_logit = 0;
  for (int k = 0; k < AdditionTask::kAnswerDigits; ++k) {
    std::vector<int> tokens;
    for (const auto& [a, b] : pairs) {
      const std::vector<int> s = task.encode(a, b);
      tokens.insert(tokens.end(), s.begin(), s.begin() + prompt + k);
    }
    const Tensor<float> logits = last_position_logits(model, tokens, batch, prompt + k, 1);
    for (int i = 0; i < batch; ++i) {
      const float* row = logits.row(i);
      double top = -INFINITY, sum = 0;
      for (int v = 0; v < logits.cols; ++v) top = std::max(top, double{row[v]}), largest_logit = std::max(largest_logit, std::abs(double{row[v]}));
      for (int v = 0; v < logits.cols; ++v) sum += std::exp(row[v] - top);
      reference += top + std::log(sum) - row[AdditionTask::answer(pairs[i].first, pairs[i].second)[k]];
    }
  }
  reference /= batch * AdditionTask::kAnswerDigits;
  // Each logit is a chain of float dot products of length at most K = d_ff; two summation orders of one
  // dot product differ by at most 2·K·u times the sum of its terms' magnitudes (u = 2^-24), which the
  // largest logit times the depth bounds loosely; the loss moves by at most twice a logit's change.
  const double K = c.model.d_ff, u = std::numeric_limits<float>::epsilon() / 2;
  const double bound = 2 * 2 * K * u * (1 + largest_logit) * (c.model.layers + 1);
  std::cout << "test loss " << e.test_loss << " against " << reference << ": difference " << std::abs(e.test_loss - reference)
            << ", bound " << bound << "\n";
  EXPECT_NEAR(e.test_loss, reference, bound);
  EXPECT_GT(e.test_loss, 1.0) << "an untrained model's loss is near ln(14)";
}

TEST(Training, TraceRefusesWhatItCannotReplay) {
  TrainOptions o;
  o.config = tiny_config("none", "learned");
  o.steps = 2;
  o.out_dir = scratch("trace_bad");
  o.trace_dir = o.out_dir + "/trace";
  try {
    train(o);
    FAIL() << "a non-causal model was traced";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("model.mask must be \"causal\""));
  }
  o.config = tiny_config("causal", "learned");
  o.trace_snapshots = {5};
  EXPECT_THROW(train(o), ConfigError);  // a snapshot past the last step
}

TEST(Training, NonCausalTrainsOnPrefixes) {
  TrainOptions o;
  o.config = tiny_config("none", "none");
  o.steps = 200;
  o.out_dir = scratch("noncausal");
  const TrainResult r = train(o);
  EXPECT_LT(r.final_loss, std::log(14.0));
  // A position-blind predictor cannot beat the Bayes ceiling (proofs/T7): 0.05696 exact match.
  EXPECT_LE(r.final_eval.exact_match, 0.05696 + 0.02);
}

TEST(Training, SameSeedAndThreadsGiveTheSameBits) {
  TrainOptions a, b;
  a.config = b.config = tiny_config("causal", "learned");
  a.steps = b.steps = 40;
  a.out_dir = scratch("det_a");
  b.out_dir = scratch("det_b");
  train(a);
  train(b);
  EXPECT_EQ(read_file(a.out_dir + "/weights.bin"), read_file(b.out_dir + "/weights.bin"));
  TrainOptions c = a;
  c.seed = 2;
  c.out_dir = scratch("det_c");
  train(c);
  EXPECT_NE(read_file(a.out_dir + "/weights.bin"), read_file(c.out_dir + "/weights.bin"));
}

TEST(Training, ResumeFromACheckpointIsBitIdentical) {
  for (const char* optimizer : {"adamw", "ecd", "soap"}) {  // SOAP refreshes its bases at steps 10, 20, ..., across the resume
    TrainConfig config = tiny_config("causal", "learned", 25);
    config.optimizer.name = optimizer;
    if (std::string(optimizer) == "ecd") config.optimizer.lr = 0.5;
    TrainOptions whole;
    whole.config = config;
    whole.steps = 60;
    whole.out_dir = scratch(std::string("whole_") + optimizer);
    train(whole);
    // Interrupted after 50 steps (its last checkpoint), then resumed to 60.
    TrainOptions first = whole;
    first.steps = 50;
    first.out_dir = scratch(std::string("resumed_") + optimizer);
    train(first);
    TrainOptions rest = first;
    rest.steps = 60;
    rest.resume = true;
    const TrainResult r = train(rest);
    EXPECT_TRUE(r.resumed);
    EXPECT_EQ(r.resumed_from, 50);
    EXPECT_EQ(read_file(whole.out_dir + "/weights.bin"), read_file(rest.out_dir + "/weights.bin")) << optimizer;
  }
}

TEST(Training, ResumeRefusesAnotherRunsCheckpoint) {
  TrainOptions a;
  a.config = tiny_config("causal", "learned", 10);
  a.steps = 10;
  a.out_dir = scratch("refuse");
  train(a);
  TrainOptions b = a;
  b.seed = 9;
  b.resume = true;
  EXPECT_THROW(train(b), ConfigError);
}

TEST(TrainConfig, BadConfigsNameTheField) {
  const auto error = [](const std::string& json) {
    try {
      parse_train_config(json, "bad.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_THAT(error(R"({"model": {}, "trian": {}})"), HasSubstr("unknown key \"trian\""));
  EXPECT_THAT(error(R"({"model": {}, "optimizer": {"name": "adam"}})"), HasSubstr("allowed: adamw, sgd, ecd, soap"));
  EXPECT_THAT(error(R"({"model": {"vocab_size": 20}})"), HasSubstr("\"vocab_size\", which the task determines"));
  EXPECT_THAT(error(R"({"model": {}, "train": {"batch": 0}})"), HasSubstr("\"train.batch\": 0"));
  EXPECT_THAT(error(R"({"model": {}, "optimizer": {"name": "sgd", "eta": 3}})"), HasSubstr("applies only to ecd"));
  EXPECT_THAT(error(R"({"model": {}, "optimizer": {"name": "adamw", "precondition_frequency": 5}})"), HasSubstr("applies only to soap"));
  EXPECT_THAT(error(R"({"model": {}, "optimizer": {"name": "sgd", "betas": [0.9, 0.9]}})"), HasSubstr("applies only to adamw and soap"));
  EXPECT_THAT(error(R"({"model": {}, "optimizer": {"name": "soap", "precondition_frequency": 0}})"), HasSubstr("precondition_frequency"));
  EXPECT_THAT(error(R"({"model": {"heads": 3}})"), HasSubstr("does not divide"));
  EXPECT_THAT(error(R"({})"), HasSubstr("\"model\""));
  EXPECT_THAT(error(R"({"model": {}, "task": {"name": "multiplication"}})"), HasSubstr("allowed: addition3"));
  EXPECT_THROW(load_train_config("/nonexistent/train.json"), ConfigError);
}

TEST(TrainConfig, EveryShippedConfigParses) {
  int count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(SYMBREAK_CONFIG_DIR)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    const TrainConfig c = load_train_config(entry.path().string());
    EXPECT_EQ(c.model.vocab_size, AdditionTask::kVocab) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 12);
}

}  // namespace
}  // namespace symbreak::experiments
