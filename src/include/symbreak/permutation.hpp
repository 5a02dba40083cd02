// Permutations of positions. Convention: (σ·x)_i = x_σ(i), i.e. sigma[i] is the index the i-th
// entry is taken from. Everything is 0-based; "tokens 1..n-1" of the papers are indices 0..n-2.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "symbreak/rng.hpp"
#include "symbreak/tensor.hpp"

namespace symbreak {

using Permutation = std::vector<int>;

inline bool is_permutation(const Permutation& sigma) {
  std::vector<bool> seen(sigma.size(), false);
  for (int s : sigma) {
    if (s < 0 || s >= static_cast<int>(sigma.size()) || seen[s]) return false;
    seen[s] = true;
  }
  return true;
}

inline Permutation identity_permutation(int n) {
  Permutation sigma(n);
  for (int i = 0; i < n; ++i) sigma[i] = i;
  return sigma;
}

// A uniformly random permutation of indices [0, count) inside a sequence of n (the rest fixed).
inline Permutation random_permutation_of_prefix(int n, int count, Rng& rng) {
  Permutation sigma = identity_permutation(n);
  for (int i = count - 1; i > 0; --i) std::swap(sigma[i], sigma[rng.below(i + 1)]);
  return sigma;
}

template <class V>
std::vector<V> apply_permutation(const std::vector<V>& x, const Permutation& sigma) {
  if (x.size() != sigma.size())
    throw std::invalid_argument("permutation of size " + std::to_string(sigma.size()) + " applied to " +
                                std::to_string(x.size()) + " entries");
  std::vector<V> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[sigma[i]];
  return out;
}

// Rows permuted: out.row(i) = t.row(sigma[i]).
template <class T>
Tensor<T> permute_rows(const Tensor<T>& t, const Permutation& sigma) {
  if (static_cast<int>(sigma.size()) != t.rows) throw std::invalid_argument("permute_rows: size mismatch");
  Tensor<T> out(t.rows, t.cols);
  for (int i = 0; i < t.rows; ++i)
    for (int c = 0; c < t.cols; ++c) out(i, c) = t(sigma[i], c);
  return out;
}

inline std::string to_string(const Permutation& sigma) {
  std::string s = "[";
  for (std::size_t i = 0; i < sigma.size(); ++i) s += (i ? " " : "") + std::to_string(sigma[i]);
  return s + "]";
}

}  // namespace symbreak
