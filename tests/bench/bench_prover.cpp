// The prover's cost and DAG size as n, d and L grow (no mask, no PE, 2 heads, LN, GELU MLP: every
// position PROVEN) and for a causal model at depth 2 (REFUTED, which adds Exact evaluations).
#include <benchmark/benchmark.h>

#include "symbreak/proofs/prover.hpp"

namespace symbreak::proofs {
namespace {

void BM_Prove(benchmark::State& state) {
  const int layers = static_cast<int>(state.range(0)), d = static_cast<int>(state.range(1));
  const int n = static_cast<int>(state.range(2));
  ModelConfig c = make_config(n, std::max(n, 8), d, 2, layers);
  c.d_ff = 2 * d;
  c.mask = state.range(3) ? MaskKind::causal : MaskKind::none;
  std::size_t nodes = 0;
  for (auto _ : state) nodes = prove(c, n).dag_nodes;
  state.counters["dag_nodes"] = static_cast<double>(nodes);
}

BENCHMARK(BM_Prove)
    ->ArgNames({"L", "d", "n", "causal"})
    ->Args({2, 4, 4, 0})
    ->Args({2, 4, 8, 0})
    ->Args({2, 4, 16, 0})  // n
    ->Args({2, 8, 8, 0})
    ->Args({2, 16, 8, 0})  // d
    ->Args({1, 4, 8, 0})
    ->Args({4, 4, 8, 0})  // L
    ->Args({2, 4, 8, 1})  // refuted: causal, depth 2
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace symbreak::proofs

BENCHMARK_MAIN();
