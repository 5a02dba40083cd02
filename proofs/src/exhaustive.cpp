// The second, independent line of evidence: every permutation of the group, in Exact arithmetic at
// random rational weights, compared exactly.
#include <algorithm>
#include <chrono>
#include <numeric>

#include "symbreak/proofs/prover.hpp"

namespace symbreak::proofs {
namespace {

using Clock = std::chrono::steady_clock;

// Calls f with every permutation of positions [0, count) (the rest fixed), in lexicographic order.
template <class F>
void for_each_permutation(int n, int count, F&& f) {
  Permutation sigma = identity_permutation(n);
  do {
    f(sigma);
  } while (std::next_permutation(sigma.begin(), sigma.begin() + count));
}

bool row_equal(const Tensor<Exact>& a, int ra, const Tensor<Exact>& b, int rb) {
  for (int c = 0; c < a.cols; ++c)
    if (a(ra, c) != b(rb, c)) return false;
  return true;
}

template <class Compare>
ExhaustiveResult exhaustive(const ModelConfig& input, int n, std::uint64_t seed, int count, std::string group, Compare equal) {
  const auto started = Clock::now();
  ModelConfig config = input;
  config.vocab_size = std::max(config.vocab_size, n);
  config.init = InitScheme::scaled;
  const Model<Exact> model = make_model<Exact>(config, seed);
  std::vector<int> x(n);
  std::iota(x.begin(), x.end(), 0);
  const Tensor<Exact> fx = forward_logits(model, x);
  ExhaustiveResult r;
  r.group = std::move(group);
  for_each_permutation(n, count, [&](const Permutation& sigma) {
    const Tensor<Exact> f = forward_logits(model, apply_permutation(x, sigma));
    ++r.total;
    r.equal += equal(f, fx, sigma);
  });
  r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return r;
}

}  // namespace

ExhaustiveResult exhaustive_last_position(const ModelConfig& config, int n, std::uint64_t seed) {
  return exhaustive(
      config, n, seed, n - 1, "S_" + std::to_string(n - 1) + " on tokens 1.." + std::to_string(n - 1) + " (last position)",
      [n](const Tensor<Exact>& f, const Tensor<Exact>& fx, const Permutation&) { return row_equal(f, n - 1, fx, n - 1); });
}

ExhaustiveResult exhaustive_equivariance(const ModelConfig& config, int n, std::uint64_t seed) {
  return exhaustive(config, n, seed, n, "S_" + std::to_string(n) + " (equivariance, every position)",
                    [n](const Tensor<Exact>& f, const Tensor<Exact>& fx, const Permutation& sigma) {
                      for (int i = 0; i < n; ++i)
                        if (!row_equal(f, i, fx, sigma[i])) return false;
                      return true;
                    });
}

}  // namespace symbreak::proofs
