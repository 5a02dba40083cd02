// Exact arithmetic for symbreak.
//
// `Exact` is a GMP rational (Boost.Multiprecision's gmp_rational backend, as in `mpq_rational`). Sums, products and quotients are
// exact. Functions that are not rational (exp, rsqrt, erf, tanh, sin, cos) are evaluated with MPFR at
// kExactPrecisionBits and the MPFR result is converted *exactly* to a dyadic rational. They are
// therefore deterministic functions of their exact argument: equal inputs give identical outputs,
// whatever order or layout produced those inputs.
//
// This is what makes symmetries exact. If a symmetry holds mathematically, the two computations it
// relates feed exactly equal arguments into every non-rational function (exact sums do not depend on
// summation order), so the outputs are exactly equal; a broken symmetry leaves a nonzero exact
// difference. Rounding a normalisation result (softmax weights, LayerNorm output) to P bits is also a
// function of the exact value alone, so it keeps that property while bounding number sizes.
// See src/EXACT.md for the precision, the growth of number sizes with depth, and measurements.
#pragma once

#include <boost/multiprecision/gmp.hpp>

#include <cstdint>
#include <string>

namespace symbreak {

// Expression templates are off: `auto` then never captures a dangling expression, and the model's
// hot products go through raw GMP anyway (see gemm).
using Exact = boost::multiprecision::number<boost::multiprecision::gmp_rational, boost::multiprecision::et_off>;

// P: the mantissa width of every non-rational function value and every rounded normalisation.
// 96 bits is 43 bits more than float64, so the exact reference stays far below the float64 error it
// is used to measure, even after amplification through a deep network.
inline constexpr int kExactPrecisionBits = 96;

// Every double is a dyadic rational; this conversion is exact. Throws std::domain_error on NaN/inf.
Exact exact_from_double(double value);
double exact_to_double(const Exact& value);  // correctly rounded to nearest

// Two deterministic roundings, each a function of the exact value alone (ties to even):
//   exact_round_fixed(q): the nearest multiple of 2^-P. Used for values of bounded magnitude:
//     softmax weights, LayerNorm outputs, and the functions below whose values lie in [-1, 1].
//   exact_round_relative(q): q with its mantissa rounded to P bits. Used where the magnitude is
//     unbounded in both directions (rsqrt).
Exact exact_round_fixed(const Exact& q);
Exact exact_round_relative(const Exact& q);

// Non-rational functions. MPFR evaluates each at its exact argument (first rounded to 2P bits, a
// function of the argument only) with P + 64 bits, and the result is rounded as stated.
Exact exact_exp(const Exact& x);             // fixed grid 2^-P (softmax only calls it with x <= 0)
Exact exact_rsqrt(const Exact& x);           // 1/sqrt(x), x > 0; relative P bits
Exact exact_normal_cdf(const Exact& x);      // Φ(x) = (1 + erf(x/√2)) / 2; fixed grid
Exact exact_gelu_tanh_gate(const Exact& x);  // (1 + tanh(√(2/π)(x + 0.044715x³))) / 2; fixed grid
Exact exact_tanh(const Exact& x);            // tanh(x); fixed grid (attention's logit softcap)
// sin or cos of pos · 10000^(-i/d): the sinusoidal positional encoding entry; fixed grid.
Exact exact_sinusoid(int pos, int i, int d, bool cosine);

// Size of an exact number: bits of numerator plus bits of denominator. Used to measure growth.
std::size_t exact_bits(const Exact& q);
// Exact decimal-free text such as "-3/64", for witnesses.
std::string exact_to_string(const Exact& q);

}  // namespace symbreak
