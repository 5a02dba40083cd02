// Small exact linear algebra: inverses, exactly orthogonal matrices (Cayley transform) and
// transposes, for the rotation symmetries of attention.
#pragma once

#include "symbreak/exact.hpp"
#include "symbreak/tensor.hpp"

namespace symbreak {

template <class T>
Tensor<T> transpose(const Tensor<T>& a) {
  Tensor<T> t(a.cols, a.rows);
  for (int i = 0; i < a.rows; ++i)
    for (int j = 0; j < a.cols; ++j) t(j, i) = a(i, j);
  return t;
}

template <class T>
Tensor<T> identity_matrix(int n) {
  Tensor<T> id(n, n);
  for (int i = 0; i < n; ++i) id(i, i) = T(1);
  return id;
}

// The exact inverse by Gauss–Jordan elimination. Throws std::domain_error if `a` is singular.
Tensor<Exact> exact_inverse(const Tensor<Exact>& a);

// R = (I - A)(I + A)^-1 for a skew-symmetric A: exactly orthogonal (Rᵀ R = I) with rational
// entries. I + A is always invertible for skew-symmetric A. Throws if A is not skew-symmetric.
Tensor<Exact> cayley(const Tensor<Exact>& skew);

}  // namespace symbreak
