#include "symbreak/exact.hpp"

#include <gmp.h>
#include <mpfr.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace symbreak {
namespace {

constexpr int P = kExactPrecisionBits;
constexpr mpfr_prec_t kArgumentBits = 2 * P;  // an exact argument is first rounded to this width
// Function values before the final rounding: 16 guard bits below the 2^-P grid for values up to 1.
constexpr mpfr_prec_t kWorkingBits = P + 16;

class Mpfr {
 public:
  explicit Mpfr(mpfr_prec_t bits) { mpfr_init2(value_, bits); }
  ~Mpfr() { mpfr_clear(value_); }
  Mpfr(const Mpfr&) = delete;
  Mpfr& operator=(const Mpfr&) = delete;
  mpfr_ptr get() { return value_; }

 private:
  mpfr_t value_;
};

class Mpz {
 public:
  Mpz() { mpz_init(value_); }
  ~Mpz() { mpz_clear(value_); }
  Mpz(const Mpz&) = delete;
  Mpz& operator=(const Mpz&) = delete;
  mpz_ptr get() { return value_; }

 private:
  mpz_t value_;
};

mpq_srcptr raw(const Exact& q) { return q.backend().data(); }
mpq_ptr raw(Exact& q) { return q.backend().data(); }

// result = z · 2^e, already in lowest terms (so no gcd is needed).
Exact dyadic(mpz_srcptr z, long e) {
  Exact result;
  mpq_ptr q = raw(result);
  if (mpz_sgn(z) == 0) return result;
  if (e >= 0) {
    mpz_mul_2exp(mpq_numref(q), z, static_cast<mp_bitcnt_t>(e));
    mpz_set_ui(mpq_denref(q), 1);
    return result;
  }
  const mp_bitcnt_t trailing_zeros = mpz_scan1(z, 0);
  const mp_bitcnt_t shift = std::min<mp_bitcnt_t>(trailing_zeros, static_cast<mp_bitcnt_t>(-e));
  mpz_tdiv_q_2exp(mpq_numref(q), z, shift);  // exact: z is divisible by 2^shift
  mpz_set_ui(mpq_denref(q), 1);
  mpz_mul_2exp(mpq_denref(q), mpq_denref(q), static_cast<mp_bitcnt_t>(-e) - shift);
  return result;
}

// The exact value of an MPFR number.
Exact from_mpfr(mpfr_ptr x) {
  if (!mpfr_number_p(x)) throw std::overflow_error("exact arithmetic: a function value is not finite");
  if (mpfr_zero_p(x)) return Exact(0);
  Mpz z;
  const mpfr_exp_t e = mpfr_get_z_2exp(z.get(), x);
  return dyadic(z.get(), e);
}

// The MPFR value x rounded to the nearest multiple of 2^-P (ties to even).
Exact fixed_from_mpfr(mpfr_ptr x) {
  if (!mpfr_number_p(x)) throw std::overflow_error("exact arithmetic: a function value is not finite");
  mpfr_mul_2si(x, x, P, MPFR_RNDN);  // exact: only the exponent changes
  mpfr_rint(x, x, MPFR_RNDN);
  Mpz z;
  mpfr_get_z(z.get(), x, MPFR_RNDN);  // exact: x is an integer now
  return dyadic(z.get(), -P);
}

void set_argument(mpfr_ptr a, const Exact& x) { mpfr_set_q(a, raw(x), MPFR_RNDN); }

// A cache of function values. Each function is a deterministic function of its exact argument, so a
// cached value is exactly the value a fresh evaluation would give: caching changes speed, never
// results. Symmetry checks evaluate the same arguments twice (once per side), so about half the
// evaluations hit. One cache per function and thread; it is emptied when full.
struct ExactHash {
  std::size_t operator()(const Exact& q) const noexcept {
    mpq_srcptr v = raw(q);
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(mpz_sgn(mpq_numref(v)));
    const auto mix = [&h](mpz_srcptr z) {
      const std::size_t n = mpz_size(z);
      for (std::size_t i = 0; i < n; ++i) h = (h ^ mpz_getlimbn(z, i)) * 0x100000001B3ull + (h >> 29);
      h ^= n * 0xBF58476D1CE4E5B9ull;
    };
    mix(mpq_numref(v));
    mix(mpq_denref(v));
    return static_cast<std::size_t>(h);
  }
};

template <Exact (*Compute)(const Exact&)>
Exact memoized(const Exact& x) {
  thread_local std::unordered_map<Exact, Exact, ExactHash> cache;
  constexpr std::size_t kCapacity = 1 << 15;
  if (const auto it = cache.find(x); it != cache.end()) return it->second;
  Exact value = Compute(x);
  if (cache.size() >= kCapacity) cache.clear();
  cache.emplace(x, value);
  return value;
}

}  // namespace

Exact exact_from_double(double value) {
  if (!std::isfinite(value)) throw std::domain_error("exact arithmetic: cannot convert a NaN or infinite double");
  Exact result;
  mpq_set_d(raw(result), value);  // exact for every finite double
  return result;
}

double exact_to_double(const Exact& value) {
  Mpfr x(53);
  mpfr_set_q(x.get(), raw(value), MPFR_RNDN);
  return mpfr_get_d(x.get(), MPFR_RNDN);
}

Exact exact_round_fixed(const Exact& q) {
  mpq_srcptr v = raw(q);
  Mpz scaled, quotient, remainder;
  mpz_mul_2exp(scaled.get(), mpq_numref(v), P);
  mpz_fdiv_qr(quotient.get(), remainder.get(), scaled.get(), mpq_denref(v));  // 0 <= remainder < den
  mpz_mul_2exp(remainder.get(), remainder.get(), 1);
  const int versus_half = mpz_cmp(remainder.get(), mpq_denref(v));
  if (versus_half > 0 || (versus_half == 0 && mpz_odd_p(quotient.get()))) mpz_add_ui(quotient.get(), quotient.get(), 1);
  return dyadic(quotient.get(), -P);
}

Exact exact_round_relative(const Exact& q) {
  Mpfr x(P);
  set_argument(x.get(), q);  // mpfr_set_q rounds correctly: a function of q alone
  return from_mpfr(x.get());
}

static Exact compute_exp(const Exact& x) {
  // exp(x) < 2^-(P+1) rounds to 0 on the grid: skip the evaluation (and MPFR's underflow).
  static const Exact kUnderflow(-(P + 2));
  if (x < kUnderflow) return Exact(0);
  if (x > Exact(1 << 20)) throw std::overflow_error("exact arithmetic: exp argument above 2^20");
  Mpfr a(kArgumentBits), r(kWorkingBits);
  set_argument(a.get(), x);
  mpfr_exp(r.get(), a.get(), MPFR_RNDN);
  return fixed_from_mpfr(r.get());
}

static Exact compute_rsqrt(const Exact& x) {
  if (x <= 0) throw std::domain_error("exact arithmetic: rsqrt of a non-positive number " + exact_to_string(x));
  Mpfr a(kArgumentBits), r(P);
  set_argument(a.get(), x);
  mpfr_rec_sqrt(r.get(), a.get(), MPFR_RNDN);
  return from_mpfr(r.get());
}

static Exact compute_normal_cdf(const Exact& x) {
  // Φ(±40) differs from 1 or 0 by less than 1e-300: exactly 1 or 0 on the grid.
  if (x < -40) return Exact(0);
  if (x > 40) return Exact(1);
  Mpfr a(kArgumentBits), root2(kWorkingBits), r(kWorkingBits);
  set_argument(a.get(), x);
  mpfr_sqrt_ui(root2.get(), 2, MPFR_RNDN);
  mpfr_div(a.get(), a.get(), root2.get(), MPFR_RNDN);
  mpfr_neg(a.get(), a.get(), MPFR_RNDN);
  mpfr_erfc(r.get(), a.get(), MPFR_RNDN);  // Φ(x) = erfc(-x/√2)/2, free of cancellation for x < 0
  mpfr_div_2ui(r.get(), r.get(), 1, MPFR_RNDN);
  return fixed_from_mpfr(r.get());
}

static Exact compute_gelu_tanh_gate(const Exact& x) {
  // |x| > 20 puts the tanh argument beyond 300: the gate is 0 or 1 on the grid.
  if (x < -20) return Exact(0);
  if (x > 20) return Exact(1);
  const Exact inner = x + Exact(44715) / 1000000 * x * x * x;
  Mpfr a(kArgumentBits), c(kWorkingBits), r(kWorkingBits);
  set_argument(a.get(), inner);
  mpfr_const_pi(c.get(), MPFR_RNDN);
  mpfr_ui_div(c.get(), 2, c.get(), MPFR_RNDN);
  mpfr_sqrt(c.get(), c.get(), MPFR_RNDN);  // √(2/π)
  mpfr_mul(a.get(), a.get(), c.get(), MPFR_RNDN);
  mpfr_tanh(r.get(), a.get(), MPFR_RNDN);
  mpfr_add_ui(r.get(), r.get(), 1, MPFR_RNDN);
  mpfr_div_2ui(r.get(), r.get(), 1, MPFR_RNDN);
  return fixed_from_mpfr(r.get());
}

static Exact compute_tanh(const Exact& x) {
  // 1 - tanh(40) < 2e-34, below the grid's half step (P >= 64): exactly ±1 on the grid.
  if (x < -40) return Exact(-1);
  if (x > 40) return Exact(1);
  Mpfr a(kArgumentBits), r(kWorkingBits);
  set_argument(a.get(), x);
  mpfr_tanh(r.get(), a.get(), MPFR_RNDN);
  return fixed_from_mpfr(r.get());
}

Exact exact_sinusoid(int pos, int i, int d, bool cosine) {
  Mpfr exponent(kArgumentBits), angle(kWorkingBits), r(kWorkingBits);
  mpfr_set_si(exponent.get(), -i, MPFR_RNDN);
  mpfr_div_si(exponent.get(), exponent.get(), d, MPFR_RNDN);
  mpfr_ui_pow(angle.get(), 10000, exponent.get(), MPFR_RNDN);
  mpfr_mul_si(angle.get(), angle.get(), pos, MPFR_RNDN);
  if (cosine) mpfr_cos(r.get(), angle.get(), MPFR_RNDN);
  else mpfr_sin(r.get(), angle.get(), MPFR_RNDN);
  return fixed_from_mpfr(r.get());
}

Exact exact_exp(const Exact& x) { return memoized<compute_exp>(x); }
Exact exact_rsqrt(const Exact& x) { return memoized<compute_rsqrt>(x); }
Exact exact_normal_cdf(const Exact& x) { return memoized<compute_normal_cdf>(x); }
Exact exact_gelu_tanh_gate(const Exact& x) { return memoized<compute_gelu_tanh_gate>(x); }
Exact exact_tanh(const Exact& x) { return memoized<compute_tanh>(x); }

std::size_t exact_bits(const Exact& q) {
  mpq_srcptr v = raw(q);
  return mpz_sizeinbase(mpq_numref(v), 2) + mpz_sizeinbase(mpq_denref(v), 2);
}

std::string exact_to_string(const Exact& q) { return q.str(); }

}  // namespace symbreak
