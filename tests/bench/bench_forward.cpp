// One forward pass of the reference model in float and Exact:
// L ∈ {1, 2, 4}, d ∈ {8, 16, 64}, n ∈ {4, 8, 16}; two heads, vocabulary 16, scaled weights.
// Counters: positions/s and, for Exact, the mean size in bits of the final logits.
#include <benchmark/benchmark.h>

#include "symbreak/model.hpp"
#include "symbreak/rng.hpp"

namespace symbreak {
namespace {

template <class T>
void run_forward(benchmark::State& state, const ModelConfig& c, int n) {
  const Model<T> model = make_model<T>(c, 1);
  Rng rng(2);
  std::vector<int> tokens(n);
  for (int& t : tokens) t = static_cast<int>(rng.below(16));
  Activations<T> acts;
  for (auto _ : state) {
    forward(model, tokens, 1, n, acts);
    benchmark::DoNotOptimize(acts.logits.data.data());
  }
  state.counters["positions/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  if constexpr (std::is_same_v<T, Exact>) {
    double bits = 0;
    for (const auto& v : acts.logits.data) bits += static_cast<double>(exact_bits(v));
    state.counters["logit_bits"] = bits / static_cast<double>(acts.logits.size());
  }
}

template <class T>
void BM_Forward(benchmark::State& state) {
  const int layers = static_cast<int>(state.range(0)), d = static_cast<int>(state.range(1));
  ModelConfig c = make_config(16, 16, d, 2, layers);
  c.init = InitScheme::scaled;
  run_forward<T>(state, c, static_cast<int>(state.range(2)));
}

// How exact number sizes grow with depth when no LayerNorm re-rounds the stream (src/EXACT.md).
void BM_ExactSizeGrowth(benchmark::State& state) {
  const int layers = static_cast<int>(state.range(0));
  ModelConfig c = make_config(16, 16, 16, 2, layers);
  c.init = InitScheme::scaled;
  c.layernorm = c.final_layernorm = state.range(1) != 0;
  c.residual_attention = c.residual_mlp = std::vector<bool>(layers, state.range(2) != 0);
  run_forward<Exact>(state, c, 8);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int layers : {1, 2, 4})
    for (int d : {8, 16, 64})
      for (int n : {4, 8, 16}) b->Args({layers, d, n});
  b->ArgNames({"L", "d", "n"});
}

BENCHMARK_TEMPLATE(BM_Forward, float)->Apply(sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_Forward, Exact)->Apply(sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExactSizeGrowth)
    ->ArgsProduct({{1, 2, 4, 8}, {1, 0}, {1, 0}})
    ->ArgNames({"L", "layernorm", "residual"})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace symbreak

BENCHMARK_MAIN();
