// The symbolic scalar: AC-normal form and hash-consing, the basis of the prover's soundness.
#include <gtest/gtest.h>

#include "symbreak/arith.hpp"
#include "symbreak/symbolic.hpp"

namespace symbreak {
namespace {

TEST(Symbolic, SumsAndProductsAreAcNormal) {
  ExprStore store;
  ExprScope scope(store);
  const Expr a = Expr::symbol("a"), b = Expr::symbol("b"), c = Expr::symbol("c");
  EXPECT_TRUE((a + b).same(b + a));
  EXPECT_TRUE(((a + b) + c).same(a + (b + c)));
  EXPECT_TRUE((a * b).same(b * a));
  EXPECT_TRUE(((a * b) * c).same(a * (b * c)));
  EXPECT_TRUE((a + a).same(Expr(2) * a));
  EXPECT_TRUE((Expr(2) * a - a).same(a));
  EXPECT_TRUE((a - a).same(Expr(0)));
  EXPECT_TRUE((a / a).same(Expr(1)));
  EXPECT_TRUE((a * b / b).same(a));
  EXPECT_TRUE(((a * Expr(3)) * b).same(Expr(3) * (a * b)));
  EXPECT_TRUE((a / Expr(4)).same(a * (Expr(Exact(1) / 4))));
  // Equal nodes are shared: building the same term twice allocates nothing new.
  const std::size_t before = store.size();
  (void)((a + b) * c);
  (void)(c * (b + a));
  EXPECT_EQ(store.size(), before + 1);  // one product; the sum a + b existed, and the second build is shared
}

TEST(Symbolic, ProductsAreNotExpandedAndFunctionsAreUninterpreted) {
  ExprStore store;
  ExprScope scope(store);
  const Expr a = Expr::symbol("a"), b = Expr::symbol("b"), c = Expr::symbol("c");
  // (a + b)·c and a·c + b·c are equal as polynomials but are different normal forms: the prover
  // never needs distributivity, and never claims more than AC gives.
  EXPECT_FALSE(((a + b) * c).same(a * c + b * c));
  EXPECT_FALSE(Arith<Expr>::exp(a).same(Arith<Expr>::exp(b)));
  EXPECT_TRUE(Arith<Expr>::exp(a + b).same(Arith<Expr>::exp(b + a)));
  const Expr m1[] = {a, b, c}, m2[] = {c, a, b};
  EXPECT_TRUE(Arith<Expr>::max_of(m1, 3).same(Arith<Expr>::max_of(m2, 3)));  // max of a set
  const Expr m3[] = {a, a, b}, m4[] = {b, a};
  EXPECT_TRUE(Arith<Expr>::max_of(m3, 3).same(Arith<Expr>::max_of(m4, 2)));  // max is idempotent
  EXPECT_TRUE(Arith<Expr>::max_of(m3, 2).same(a));
  EXPECT_FALSE(Arith<Expr>::sinusoid(0, 0, 4, false).same(Arith<Expr>::sinusoid(1, 0, 4, false)));
}

TEST(Symbolic, NeedsAStore) { EXPECT_THROW(Expr(1), std::logic_error); }

}  // namespace
}  // namespace symbreak
