// Uses the installed library exactly as a user's program would.
#include <symbreak/model.hpp>
#include <symbreak/permutation.hpp>

#include <algorithm>
#include <cstdio>

int main() {
  symbreak::ModelConfig config = symbreak::make_config(8, 8, 8, 2, 2);
  config.init = symbreak::InitScheme::scaled;
  const auto model = symbreak::make_model<symbreak::Exact>(config, 7);
  const std::vector<int> x{1, 2, 3, 4, 5};
  const symbreak::Permutation sigma{3, 0, 2, 1, 4};
  const auto a = symbreak::forward_logits(model, x);
  const auto b = symbreak::forward_logits(model, symbreak::apply_permutation(x, sigma));
  const bool invariant = std::equal(a.row(4), a.row(4) + a.cols, b.row(4));
  std::printf("consumer: last-position logits %s under permutation\n", invariant ? "invariant" : "NOT invariant");
  return invariant ? 0 : 1;
}
