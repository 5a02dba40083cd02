// One training step (forward + backward + AdamW), exactly as the trainer runs it (GradientRunner:
// data-parallel over the batch), at batch 64 and sequence 12 (the causal addition task's length), for
// the paper, small and tiny configurations, on 2 threads (and 1 for comparison). Counters: tokens/s and
// the achieved GFLOP/s (6·parameters·tokens for the matrix products plus the attention's 12·L·n²·d).
#include <benchmark/benchmark.h>

#include "symbreak/backward.hpp"
#include "symbreak/experiments/optimizer.hpp"
#include "symbreak/experiments/step.hpp"
#include "symbreak/experiments/train_config.hpp"
#include "symbreak/experiments/trainer.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::experiments {
namespace {

void BM_TrainStep(benchmark::State& state, int d, int heads, int layers) {
  const int batch = 64, seq = 12, threads = static_cast<int>(state.range(0));
  set_threads(threads);
  ModelConfig c = make_config(AdditionTask::kVocab, 16, d, heads, layers);
  c.d_ff = 4 * d;
  c.mask = MaskKind::causal;
  c.positional_encoding = PositionalEncoding::learned;
  Model<float> model = make_model<float>(c, 1);
  GradientRunner runner(c, threads);
  std::vector<Tensor<float>*> params, grad_list;
  for (auto& [n, t] : named_parameters(model.weights)) params.push_back(t);
  for (auto& [n, t] : named_parameters(runner.gradients())) grad_list.push_back(t);
  const std::vector<const Tensor<float>*> grad_view(grad_list.begin(), grad_list.end());
  OptimizerConfig oc;
  auto opt = make_optimizer(oc, 1);
  Rng rng(1);
  std::vector<int> tokens(batch * seq), targets(batch * seq);
  for (int& t : tokens) t = static_cast<int>(rng.below(10));
  for (int& t : targets) t = static_cast<int>(rng.below(10));
  for (auto _ : state) {
    runner.zero();
    const double loss = runner.accumulate(model, tokens, batch, seq, targets);
    runner.reduce();
    opt->step(params, grad_view, loss, 1e-3, clip_scale(gradient_norm(grad_view), 1.0));
  }
  double matrix_params = 0;
  for (auto& [n, t] : named_parameters(model.weights))
    if (n.find("w_") != std::string::npos || n == "unembedding") matrix_params += static_cast<double>(t->size());
  const double tokens_per_step = batch * seq;
  const double flops = 6 * matrix_params * tokens_per_step + 12.0 * layers * batch * seq * seq * d;
  state.counters["tokens/s"] = benchmark::Counter(tokens_per_step, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_TrainStep, paper, 384, 6, 6)->Arg(2)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainStep, small, 128, 4, 6)->Arg(2)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainStep, tiny, 64, 2, 2)->Arg(2)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace symbreak::experiments

BENCHMARK_MAIN();
