// The first property: without mask and PE the model is permutation-equivariant, with EXACT equality in
// Exact arithmetic, across random architectures. And the same property fails where it must.
#include <gtest/gtest.h>
// TOOLCHAIN trap 3: gtest before rapidcheck/gtest.
#include <rapidcheck/gtest.h>

#include "symbreak/model.hpp"
#include "symbreak/properties/generators.hpp"

namespace symbreak {
namespace {

// f(σx) = σ f(x): the logits of the permuted sequence are the permuted logits, exactly.
void check_exactly_equivariant(const gen::ArchitectureSpace& space) {
  const ModelConfig config = *gen::architecture(space);
  const int n = *rc::gen::inRange(1, config.context_length + 1);
  const std::vector<int> x = *gen::tokens(n, config.vocab_size);
  const Permutation sigma = *gen::permutation_of_prefix(n, n);
  const auto seed = *rc::gen::inRange<std::uint32_t>(0, 1000000);
  const Model<Exact> model = make_model<Exact>(config, seed);
  const Tensor<Exact> fx = forward_logits(model, x);
  const Tensor<Exact> fsx = forward_logits(model, apply_permutation(x, sigma));
  RC_LOG() << "n=" << n << " seed=" << seed << " sigma=" << to_string(sigma) << '\n';
  RC_ASSERT(fsx == permute_rows(fx, sigma));
}

RC_GTEST_PROP(Equivariance, NoMaskNoPeIsExactlyEquivariant, ()) {
  check_exactly_equivariant(gen::ArchitectureSpace{});
}

// Teeth: the property must be falsified where the symmetry is broken. rc::check returns false when it
// finds (and shrinks) a counterexample; that failure is the expected outcome here.
TEST(EquivarianceTeeth, FailsForCausalMaskAtDepthTwo) {
  gen::ArchitectureSpace space;
  space.min_layers = space.max_layers = 2;
  space.max_heads = 2;
  space.max_head_width = 4;
  space.mask = MaskKind::causal;
  std::printf("(a counterexample is expected below)\n");
  EXPECT_FALSE(rc::check("causal depth 2 is not equivariant", [&] { check_exactly_equivariant(space); }));
}

TEST(EquivarianceTeeth, FailsForLearnedPositionalEncoding) {
  gen::ArchitectureSpace space;
  space.max_layers = 2;
  space.max_heads = 2;
  space.max_head_width = 4;
  space.positional_encoding = PositionalEncoding::learned;
  std::printf("(a counterexample is expected below)\n");
  EXPECT_FALSE(rc::check("learned PE is not equivariant", [&] { check_exactly_equivariant(space); }));
}

}  // namespace
}  // namespace symbreak
