#include "symbreak/linalg.hpp"

#include <stdexcept>
#include <utility>

#include "symbreak/layers.hpp"

namespace symbreak {

Tensor<Exact> exact_inverse(const Tensor<Exact>& a) {
  if (a.rows != a.cols) throw std::invalid_argument("exact_inverse: the matrix is not square");
  const int n = a.rows;
  Tensor<Exact> m = a, inv = identity_matrix<Exact>(n);
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    while (pivot < n && m(pivot, col) == 0) ++pivot;
    if (pivot == n) throw std::domain_error("exact_inverse: the matrix is singular");
    if (pivot != col)
      for (int j = 0; j < n; ++j) {
        std::swap(m(pivot, j), m(col, j));
        std::swap(inv(pivot, j), inv(col, j));
      }
    const Exact scale = Exact(1) / m(col, col);
    for (int j = 0; j < n; ++j) {
      m(col, j) *= scale;
      inv(col, j) *= scale;
    }
    for (int i = 0; i < n; ++i) {
      if (i == col || m(i, col) == 0) continue;
      const Exact factor = m(i, col);
      for (int j = 0; j < n; ++j) {
        m(i, j) -= factor * m(col, j);
        inv(i, j) -= factor * inv(col, j);
      }
    }
  }
  return inv;
}

Tensor<Exact> cayley(const Tensor<Exact>& skew) {
  const int n = skew.rows;
  if (skew.cols != n) throw std::invalid_argument("cayley: the matrix is not square");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (skew(i, j) != -skew(j, i)) throw std::invalid_argument("cayley: the matrix is not skew-symmetric");
  Tensor<Exact> minus = identity_matrix<Exact>(n), plus = identity_matrix<Exact>(n);
  for (std::size_t k = 0; k < skew.size(); ++k) {
    minus.data[k] -= skew.data[k];
    plus.data[k] += skew.data[k];
  }
  Tensor<Exact> r;
  gemm(r, minus, exact_inverse(plus));
  return r;
}

}  // namespace symbreak
