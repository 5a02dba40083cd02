// Exact arithmetic against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "symbreak/arith.hpp"
#include "symbreak/exact.hpp"

namespace symbreak {
namespace {

Exact q(long num, long den) { return Exact(num) / den; }  // docs/BUILD.md trap 1: never Exact(a, b) with b < 0
Exact pow2(int e) {
  Exact r(1);
  for (int i = 0; i < (e < 0 ? -e : e); ++i) r = e < 0 ? r / 2 : r * 2;
  return r;
}

TEST(Exact, DoublesConvertExactly) {
  EXPECT_EQ(exact_from_double(0.5), q(1, 2));
  EXPECT_EQ(exact_from_double(-3.0), Exact(-3));
  // 0.1 is the dyadic 3602879701896397 / 2^55.
  EXPECT_EQ(exact_from_double(0.1), Exact(3602879701896397LL) / pow2(55));
  EXPECT_EQ(exact_to_double(exact_from_double(0.1)), 0.1);
  EXPECT_THROW(exact_from_double(NAN), std::domain_error);
  EXPECT_THROW(exact_from_double(INFINITY), std::domain_error);
}

TEST(Exact, ToDoubleRoundsToNearest) {
  // 1/3 rounds to the double nearest to it, which is what the literal 1.0/3 is.
  EXPECT_EQ(exact_to_double(q(1, 3)), 1.0 / 3);
  EXPECT_EQ(exact_to_double(q(-2, 3)), -2.0 / 3);
}

TEST(Exact, NegativeDenominatorTrapIsAvoided) {
  // Built as numerator / denominator, the sign lands on the numerator.
  EXPECT_EQ(q(1, -1), Exact(-1));
  EXPECT_EQ(exact_to_double(q(3, -4)), -0.75);
}

TEST(Exact, FixedRoundingGoesToNearestMultipleOfTwoToMinusP) {
  const Exact grid = pow2(-kExactPrecisionBits);
  EXPECT_EQ(exact_round_fixed(q(1, 2)), q(1, 2));  // already on the grid
  const Exact third = exact_round_fixed(q(1, 3));
  EXPECT_LE(abs(third - q(1, 3)), grid / 2);
  EXPECT_EQ(denominator(Exact(third * pow2(kExactPrecisionBits))), 1);
  // Ties go to even: (2k+1)/2 · 2^-P rounds to the even neighbour.
  EXPECT_EQ(exact_round_fixed(grid / 2), Exact(0));
  EXPECT_EQ(exact_round_fixed(grid * 3 / 2), grid * 2);
  EXPECT_EQ(exact_round_fixed(-grid * 3 / 2), -grid * 2);
  EXPECT_EQ(exact_round_fixed(Exact(0)), Exact(0));
}

TEST(Exact, RelativeRoundingKeepsPBits) {
  const Exact x = exact_round_relative(q(1, 3));
  EXPECT_LE(abs(x - q(1, 3)) / q(1, 3), pow2(-kExactPrecisionBits));
  EXPECT_EQ(exact_round_relative(q(3, 8)), q(3, 8));
  // Huge and tiny values keep their relative precision.
  const Exact tiny = q(1, 3) * pow2(-400);
  EXPECT_LE(abs(exact_round_relative(tiny) - tiny) / tiny, pow2(-kExactPrecisionBits));
}

TEST(Exact, FunctionsMatchHandValues) {
  EXPECT_EQ(exact_exp(Exact(0)), Exact(1));
  EXPECT_NEAR(exact_to_double(exact_exp(Exact(-1))), 0.36787944117144233, 1e-17);
  EXPECT_EQ(exact_exp(Exact(-200)), Exact(0));  // below 2^-(P+1): exactly zero on the grid
  EXPECT_EQ(exact_rsqrt(Exact(4)), q(1, 2));
  EXPECT_EQ(exact_rsqrt(q(1, 16)), Exact(4));
  EXPECT_NEAR(exact_to_double(exact_rsqrt(Exact(2))), 0.70710678118654752, 1e-17);
  EXPECT_THROW(exact_rsqrt(Exact(0)), std::domain_error);
  EXPECT_EQ(exact_normal_cdf(Exact(0)), q(1, 2));
  EXPECT_NEAR(exact_to_double(exact_normal_cdf(Exact(1))), 0.8413447460685429, 1e-16);
  EXPECT_NEAR(exact_to_double(exact_normal_cdf(Exact(-3))), 0.0013498980316300946, 1e-18);
  EXPECT_EQ(exact_normal_cdf(Exact(-50)), Exact(0));
  EXPECT_EQ(exact_normal_cdf(Exact(50)), Exact(1));
  EXPECT_EQ(exact_gelu_tanh_gate(Exact(0)), q(1, 2));
  // 0.5·(1 + tanh(√(2/π)·(1 + 0.044715))) = 0.8411919906082768
  EXPECT_NEAR(exact_to_double(exact_gelu_tanh_gate(Exact(1))), 0.8411919906082768, 1e-15);
  EXPECT_EQ(exact_tanh(Exact(0)), Exact(0));
  EXPECT_NEAR(exact_to_double(exact_tanh(Exact(1))), 0.76159415595576489, 1e-17);
  EXPECT_EQ(exact_tanh(-q(7, 3)), -exact_tanh(q(7, 3)));  // odd on the grid: round-to-nearest is symmetric
  EXPECT_EQ(exact_tanh(Exact(41)), Exact(1));             // saturated: within the grid's half step of ±1
  EXPECT_EQ(exact_tanh(Exact(-1000)), Exact(-1));
  EXPECT_EQ(exact_sinusoid(0, 0, 8, false), Exact(0));
  EXPECT_EQ(exact_sinusoid(0, 0, 8, true), Exact(1));
  EXPECT_NEAR(exact_to_double(exact_sinusoid(3, 2, 8, false)), std::sin(3 / std::pow(10000.0, 0.25)), 1e-15);
}

TEST(Exact, FunctionsAreFunctionsOfTheValueNotTheRepresentation) {
  // 2/6 and 1/3 are the same number; any way of producing it gives identical bits downstream.
  const Exact a = Exact(2) / 6, b = Exact(1) / 3, c = Exact(5) / 3 - Exact(4) / 3;
  for (const Exact& x : {a, b, c}) {
    EXPECT_EQ(exact_exp(-x), exact_exp(-b));
    EXPECT_EQ(exact_normal_cdf(x), exact_normal_cdf(b));
    EXPECT_EQ(exact_rsqrt(x), exact_rsqrt(b));
    EXPECT_EQ(exact_tanh(x), exact_tanh(b));
    EXPECT_EQ(exact_round_fixed(x), exact_round_fixed(b));
  }
}

TEST(Exact, ArithTraitsDispatch) {
  EXPECT_EQ(Arith<Exact>::name(), "exact");
  EXPECT_EQ(Arith<float>::name(), "f32");
  EXPECT_EQ(Arith<double>::normalise(0.1), 0.1);
  EXPECT_FLOAT_EQ(Arith<float>::normal_cdf(1.0f), 0.8413447f);
  EXPECT_DOUBLE_EQ(Arith<double>::gelu_tanh_gate(1.0), 0.8411919906082768);
  EXPECT_EQ(Arith<Exact>::from_double(0.25), q(1, 4));
  EXPECT_EQ(exact_bits(q(3, 4)), 2u + 3u);
  EXPECT_EQ(exact_to_string(q(-3, 64)), "-3/64");
}

}  // namespace
}  // namespace symbreak
