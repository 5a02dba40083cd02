// The first property: without mask and PE the model is permutation-equivariant, with EXACT equality in
// Exact arithmetic, across random architectures (depth, heads, widths, residual switches, LayerNorm,
// MLP, activation). And the same property fails where it must.
#include <gtest/gtest.h>
// docs/BUILD.md trap 3: gtest before rapidcheck/gtest.
#include <rapidcheck/gtest.h>

#include "symbreak/properties/catalogue.hpp"
#include "symbreak/properties/generators.hpp"

namespace symbreak::properties {
namespace {

// Set when an evaluation throws: a teeth test must fail on an asymmetry, not on an error.
bool evaluation_threw = false;

// f(σx) = σ·f(x) exactly, for a random model of the class and a random x and σ ∈ S_n.
void check_exactly_equivariant(const ArchitectureClass& architectures) {
  Property equiv = find_property("EQUIV");
  equiv.architectures = architectures;
  const Case c = *gen::case_for(equiv, SpaceLimits{}, 1);
  bool equal = false;
  try {
    const ModelSubject<Exact> f(make_model_from_spec<Exact>(c.model));
    const Comparison<Exact> cmp = equivariance(f, c.probes[0]);
    equal = cmp.actual == cmp.expected;
  } catch (const std::exception& e) {
    evaluation_threw = true;
    RC_FAIL(std::string("evaluation threw: ") + e.what());
  }
  RC_ASSERT(equal);
}

RC_GTEST_PROP(Equivariance, NoMaskNoPeIsExactlyEquivariant, ()) {
  evaluation_threw = false;
  check_exactly_equivariant(find_property("EQUIV").architectures);
}

// Teeth: the property must be falsified where the symmetry is broken. rc::check returns false when it
// finds (and shrinks) a counterexample; that failure is the expected outcome here.
TEST(EquivarianceTeeth, FailsForCausalMaskAtDepthTwo) {
  ArchitectureClass causal;
  causal.masks = {MaskKind::causal};
  causal.encodings = {PositionalEncoding::none};
  causal.min_layers = causal.max_layers = 2;
  std::printf("(a counterexample is expected below)\n");
  evaluation_threw = false;
  EXPECT_FALSE(rc::check("causal depth 2 is not equivariant", [&] { check_exactly_equivariant(causal); }));
  EXPECT_FALSE(evaluation_threw);
}

TEST(EquivarianceTeeth, FailsForLearnedPositionalEncoding) {
  ArchitectureClass learned;
  learned.masks = {MaskKind::none};
  learned.encodings = {PositionalEncoding::learned};
  std::printf("(a counterexample is expected below)\n");
  evaluation_threw = false;
  EXPECT_FALSE(rc::check("learned PE is not equivariant", [&] { check_exactly_equivariant(learned); }));
  EXPECT_FALSE(evaluation_threw);
}

}  // namespace
}  // namespace symbreak::properties
