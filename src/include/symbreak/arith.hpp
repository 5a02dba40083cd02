// The arithmetic a model is evaluated in: float, double or Exact. The model code is written once
// against this interface; only the non-rational functions and the normalisation rounding differ.
#pragma once

#include <cmath>
#include <string_view>
#include <type_traits>

#include "symbreak/exact.hpp"

namespace symbreak {

template <class T>
concept Arithmetic = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Exact>;

template <Arithmetic T>
struct Arith {
  static constexpr bool is_exact = std::is_same_v<T, Exact>;

  static constexpr std::string_view name() {
    if constexpr (std::is_same_v<T, float>) return "f32";
    else if constexpr (std::is_same_v<T, double>) return "f64";
    else return "exact";
  }
  // Exact for double and Exact; float rounds to nearest.
  static T from_double(double v) {
    if constexpr (is_exact) return exact_from_double(v);
    else return static_cast<T>(v);
  }
  static double to_double(const T& v) {
    if constexpr (is_exact) return exact_to_double(v);
    else return static_cast<double>(v);
  }
  // The exact value of v (every float and double is a dyadic rational).
  static Exact to_exact(const T& v) {
    if constexpr (is_exact) return v;
    else return exact_from_double(static_cast<double>(v));
  }
  // q in this arithmetic: exact for Exact, correctly rounded to double and then to T otherwise.
  static T from_exact(const Exact& q) {
    if constexpr (is_exact) return q;
    else return static_cast<T>(exact_to_double(q));
  }
  static T exp(const T& x) {
    if constexpr (is_exact) return exact_exp(x);
    else return std::exp(x);
  }
  static T rsqrt(const T& x) {
    if constexpr (is_exact) return exact_rsqrt(x);
    else return T(1) / std::sqrt(x);
  }
  // Φ(x), the gate of the exact (erf) GELU: gelu(x) = x·Φ(x).
  static T normal_cdf(const T& x) {
    if constexpr (is_exact) return exact_normal_cdf(x);
    else return T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
  // The gate of the tanh GELU: gelu_tanh(x) = x·gate(x).
  static T gelu_tanh_gate(const T& x) {
    if constexpr (is_exact) return exact_gelu_tanh_gate(x);
    else return T(0.5) * (T(1) + std::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)));
  }
  // Entry of the sinusoidal positional encoding: sin or cos of pos · 10000^(-i/d).
  static T sinusoid(int pos, int i, int d, bool cosine) {
    if constexpr (is_exact) return exact_sinusoid(pos, i, d, cosine);
    else {
      const double angle = pos * std::pow(10000.0, -static_cast<double>(i) / d);
      return static_cast<T>(cosine ? std::cos(angle) : std::sin(angle));
    }
  }
  // Rounds a normalisation result (softmax weight, LayerNorm output) so exact number sizes stay
  // bounded. Floats already round every operation.
  static T normalise(const T& x) {
    if constexpr (is_exact) return exact_round_fixed(x);
    else return x;
  }
};

}  // namespace symbreak
