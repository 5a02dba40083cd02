// The arithmetic a model is evaluated in: float, double or Exact. The model code is written once
// against this interface; only the non-rational functions and the normalisation rounding differ.
#pragma once

#include <cmath>
#include <string_view>
#include <type_traits>

#include "symbreak/exact.hpp"
#include "symbreak/symbolic.hpp"

namespace symbreak {

template <class T>
concept Arithmetic = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Exact> || std::is_same_v<T, Expr>;

template <Arithmetic T>
struct Arith {
  static constexpr bool is_exact = std::is_same_v<T, Exact>;
  static constexpr bool is_symbolic = false;

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
  static T tanh(const T& x) {
    if constexpr (is_exact) return exact_tanh(x);
    else return std::tanh(x);
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
  static T relu(const T& x) { return x > T(0) ? x : T(0); }
  // The largest of values[0..count), count > 0.
  static T max_of(const T* values, int count) {
    const T* best = values;
    for (int i = 1; i < count; ++i)
      if (values[i] > *best) best = values + i;
    return *best;
  }
};

// Symbolic: every non-rational function, the rounding and max are uninterpreted functions; max and
// the sinusoid entries are the only ones whose value could depend on argument order or position, and
// max's arguments form a multiset.
template <>
struct Arith<Expr> {
  static constexpr bool is_exact = false;
  static constexpr bool is_symbolic = true;
  static constexpr std::string_view name() { return "symbolic"; }
  static Expr from_double(double v) { return Expr(exact_from_double(v)); }
  static Expr from_exact(const Exact& q) { return Expr(q); }
  static Expr exp(const Expr& x) { return Expr::call("exp", {x}); }
  static Expr rsqrt(const Expr& x) { return Expr::call("rsqrt", {x}); }
  static Expr normal_cdf(const Expr& x) { return Expr::call("Phi", {x}); }
  static Expr gelu_tanh_gate(const Expr& x) { return Expr::call("tanh_gate", {x}); }
  static Expr tanh(const Expr& x) { return Expr::call("tanh", {x}); }
  static Expr sinusoid(int pos, int i, int d, bool cosine) {
    return Expr::symbol(std::string(cosine ? "cos" : "sin") + "[pos " + std::to_string(pos) + "][" + std::to_string(i) + "/" +
                        std::to_string(d) + "]");
  }
  static Expr normalise(const Expr& x) { return Expr::call("normalise", {x}); }
  static Expr relu(const Expr& x) { return Expr::call("relu", {x}); }
  // max of a set: symmetric, and idempotent (max(s, s) = s holds for max itself, not for an arbitrary
  // function, so using it is sound).
  static Expr max_of(const Expr* values, int count) {
    std::vector<Expr> distinct;
    for (int i = 0; i < count; ++i) {
      bool seen = false;
      for (const Expr& d : distinct) seen = seen || d.same(values[i]);
      if (!seen) distinct.push_back(values[i]);
    }
    if (distinct.size() == 1) return distinct[0];
    return Expr::call("max", std::move(distinct), /*symmetric=*/true);
  }
};

}  // namespace symbreak
