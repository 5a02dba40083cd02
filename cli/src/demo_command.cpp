// symbreak demo: the paper's theorem on a few small random models, in float32, float64 and Exact.
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "symbreak/model.hpp"
#include "symbreak/permutation.hpp"
#include "symbreak/text.hpp"
#include "table.hpp"

namespace symbreak::cli {
namespace {

struct DemoCase {
  std::string label;
  ModelConfig config;
  std::optional<bool> expect_invariant;  // unknown for a user's config
};

// The last-position logits of x and of σx, in arithmetic T, converted exactly to Exact.
template <class T>
std::pair<std::vector<Exact>, std::vector<Exact>> last_logits(const ModelConfig& config, std::uint64_t seed,
                                                              const std::vector<int>& x, const Permutation& sigma) {
  const Model<T> model = make_model<T>(config, seed);
  const auto last_row = [&](const std::vector<int>& tokens) {
    const Tensor<T> logits = forward_logits(model, tokens);
    std::vector<Exact> row;
    for (int v = 0; v < logits.cols; ++v) row.push_back(Arith<T>::to_exact(logits(logits.rows - 1, v)));
    return row;
  };
  return {last_row(x), last_row(apply_permutation(x, sigma))};
}

Exact max_abs_diff(const std::vector<Exact>& a, const std::vector<Exact>& b) {
  Exact worst(0);
  for (std::size_t i = 0; i < a.size(); ++i) {
    const Exact d = abs(a[i] - b[i]);
    if (d > worst) worst = d;
  }
  return worst;
}

// Returns true when the exact verdict matches the expectation (or there is none).
bool run_case(const DemoCase& c, std::uint64_t seed, int length, Table& table) {
  Rng rng(stream_seed(seed, "demo.tokens." + c.label));
  std::vector<int> x(length);
  for (int& t : x) t = static_cast<int>(rng.below(c.config.vocab_size));
  const Permutation sigma = random_permutation_of_prefix(length, length - 1, rng);

  const auto exact = last_logits<Exact>(c.config, seed, x, sigma);
  const Exact exact_delta = max_abs_diff(exact.first, exact.second);
  const bool invariant = exact_delta == 0;

  const std::string arch = describe(c.config) + " n=" + std::to_string(length);
  bool first_row = true;
  const auto add_row = [&](std::vector<std::string> cells) {
    cells.insert(cells.begin(), {first_row ? c.label : "", first_row ? arch : ""});
    first_row = false;
    table.add(std::move(cells));
  };
  const auto float_row = [&](const char* name, const auto& rows) {
    const Exact delta = max_abs_diff(rows.first, rows.second);
    // If the exact logits agree, the float difference is at most the two float errors combined.
    const Exact rounding = max_abs_diff(rows.first, exact.first) + max_abs_diff(rows.second, exact.second);
    const bool exceeds = delta > rounding;
    add_row({name, text::sci(exact_to_double(delta)), text::sci(exact_to_double(rounding)),
             exceeds ? "broken (Δ above rounding)" : "invariant within rounding"});
  };
  float_row("f32", last_logits<float>(c.config, seed, x, sigma));
  float_row("f64", last_logits<double>(c.config, seed, x, sigma));
  std::string verdict = invariant ? "invariant: Δ = 0 exactly"
                                  : "broken: Δ ≠ 0 exactly (" + std::to_string(exact_bits(exact_delta)) + "-bit rational)";
  bool as_expected = true;
  if (c.expect_invariant) {
    as_expected = *c.expect_invariant == invariant;
    if (!as_expected) verdict += "  UNEXPECTED";
  }
  add_row({"exact", invariant ? "0" : text::sci(exact_to_double(exact_delta)), "0 (reference)", verdict});
  return as_expected;
}

std::vector<DemoCase> builtin_cases() {
  const auto base = [](int layers) {
    ModelConfig c = make_config(/*vocab_size=*/16, /*context_length=*/16, /*d_model=*/16, /*heads=*/2, layers);
    c.init = InitScheme::scaled;
    return c;
  };
  std::vector<DemoCase> cases;
  cases.push_back({"no mask, no PE", base(2), true});
  ModelConfig bare = base(3);
  bare.layernorm = bare.final_layernorm = false;
  bare.residual_attention = bare.residual_mlp = std::vector<bool>(3, false);
  cases.push_back({"no mask, no PE, no LN, no residuals", bare, true});
  ModelConfig causal1 = base(1);
  causal1.mask = MaskKind::causal;
  cases.push_back({"causal mask, depth 1", causal1, true});
  ModelConfig causal2 = base(2);
  causal2.mask = MaskKind::causal;
  cases.push_back({"causal mask, depth 2", causal2, false});
  ModelConfig learned = base(2);
  learned.positional_encoding = PositionalEncoding::learned;
  cases.push_back({"learned PE, no mask", learned, false});
  ModelConfig sinusoidal = base(2);
  sinusoidal.positional_encoding = PositionalEncoding::sinusoidal;
  cases.push_back({"sinusoidal PE, no mask", sinusoidal, false});
  return cases;
}

}  // namespace

Action register_demo(CLI::App& app) {
  struct Options {
    std::string config_path;
    std::uint64_t seed = 1;
    int length = 8;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* demo =
      app.add_subcommand("demo", "Last-position invariance under a random permutation of tokens 1..n-1, in f32, f64 and Exact");
  demo->add_option("--config", opts->config_path, "A model config (JSON); default: the built-in models")
      ->check(CLI::ExistingFile);
  demo->add_option("--seed", opts->seed, "Seed for weights, tokens and the permutation");
  demo->add_option("--length", opts->length, "Sequence length n")->check(CLI::Range(2, 64));
  return [opts]() {
    std::vector<DemoCase> cases;
    if (!opts->config_path.empty()) {
      ModelConfig config = load_config_file(opts->config_path);
      cases.push_back({opts->config_path, config, std::nullopt});
    } else {
      cases = builtin_cases();
    }
    for (const auto& c : cases)
      if (opts->length > c.config.context_length)
        throw std::invalid_argument("--length " + std::to_string(opts->length) +
                                    " exceeds \"context_length\": " + std::to_string(c.config.context_length));
    std::cout << "symbreak demo: is the prediction at the last position invariant when tokens 1..n-1 are permuted?\n"
              << "Δ = max |logits(σx)[n] - logits(x)[n]|. Rounding bound = err(x) + err(σx), the float errors measured\n"
              << "against Exact: if the exact Δ were 0, the float Δ could not exceed it.\n"
              << "Exact: rationals, non-rational functions at P = " << kExactPrecisionBits << " bits (seed " << opts->seed
              << ")\n\n";
    Table table({"model", "shape", "arith", "max|Δ|", "rounding bound", "verdict"});
    bool all_expected = true;
    for (const auto& c : cases) all_expected = run_case(c, opts->seed, opts->length, table) && all_expected;
    table.print(std::cout);
    if (!all_expected) {
      std::cout << "\nAn exact verdict contradicts the theorem: this is a bug in symbreak.\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace symbreak::cli
