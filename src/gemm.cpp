// Matrix products for every arithmetic.
#include <cblas.h>
#include <gmp.h>

#include <Eigen/Core>
#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "symbreak/exact.hpp"
#include "symbreak/layers.hpp"
#include "symbreak/symbolic.hpp"

namespace symbreak {
namespace {

void check_shapes(int a_rows, int a_cols, int b_rows, int b_cols, bool transpose_b) {
  const int inner = transpose_b ? b_cols : b_rows;
  if (a_cols != inner)
    throw std::invalid_argument("gemm: inner dimensions differ (" + std::to_string(a_rows) + "x" + std::to_string(a_cols) +
                                " times " + std::to_string(b_rows) + "x" + std::to_string(b_cols) +
                                (transpose_b ? " transposed)" : ")"));
}

// float32 products large enough to amortise a BLAS call go to OpenBLAS (about 1.6x Eigen's sgemm on
// this CPU, docs/BUILD.md); it splits work over threads by blocks of C, so results do not depend on
// timing, only on the thread count.
bool blas_gemm(Tensor<float>& c, const Tensor<float>& a, const Tensor<float>& b, bool transpose_b, bool accumulate) {
  const int m = a.rows, k = a.cols, n = transpose_b ? b.rows : b.cols;
  if (static_cast<long>(m) * n * k < 32 * 32 * 32 || k == 0) return false;
  if (!accumulate) c.resize(m, n);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a.data.data(), a.cols,
              b.data.data(), b.cols, accumulate ? 1.0f : 0.0f, c.data.data(), n);
  return true;
}

template <class T>
void gemm_eigen(Tensor<T>& c, const Tensor<T>& a, const Tensor<T>& b, bool transpose_b, bool accumulate) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  check_shapes(a.rows, a.cols, b.rows, b.cols, transpose_b);
  const int m = a.rows, n = transpose_b ? b.rows : b.cols;
  if (accumulate && (c.rows != m || c.cols != n)) throw std::invalid_argument("gemm: accumulator has the wrong shape");
  if constexpr (std::is_same_v<T, float>)
    if (blas_gemm(c, a, b, transpose_b, accumulate)) return;
  if (!accumulate) c.resize(m, n);
  Eigen::Map<const Matrix> A(a.data.data(), a.rows, a.cols);
  Eigen::Map<const Matrix> B(b.data.data(), b.rows, b.cols);
  Eigen::Map<Matrix> C(c.data.data(), m, n);
  if (a.cols == 0) {
    if (!accumulate) C.setZero();
    return;
  }
  if (transpose_b) {
    if (accumulate) C.noalias() += A * B.transpose();
    else C.noalias() = A * B.transpose();
  } else {
    if (accumulate) C.noalias() += A * B;
    else C.noalias() = A * B;
  }
}

// An owning array of GMP integers (initialised once, reused by the caller).
class MpzArray {
 public:
  explicit MpzArray(std::size_t n) : values_(n) {
    for (auto& v : values_) mpz_init(&v);
  }
  ~MpzArray() {
    for (auto& v : values_) mpz_clear(&v);
  }
  MpzArray(const MpzArray&) = delete;
  MpzArray& operator=(const MpzArray&) = delete;
  mpz_ptr operator[](std::size_t i) { return &values_[i]; }

 private:
  std::vector<__mpz_struct> values_;
};

bool is_power_of_two(mpz_srcptr z) { return mpz_popcount(z) == 1; }

// lcm, with the common dyadic case (both powers of two) done without a gcd.
void lcm_into(mpz_ptr acc, mpz_srcptr den) {
  if (mpz_cmp_ui(den, 1) == 0) return;
  if (is_power_of_two(acc) && is_power_of_two(den)) {
    if (mpz_cmp(den, acc) > 0) mpz_set(acc, den);
    return;
  }
  mpz_lcm(acc, acc, den);
}

// Writes numerators scaled to the common denominator of `count` rationals read through `entry(l)`.
template <class Entry>
void integerize(Entry entry, int count, mpz_ptr common_den, MpzArray& out, std::size_t offset) {
  mpz_set_ui(common_den, 1);
  for (int l = 0; l < count; ++l) lcm_into(common_den, mpq_denref(entry(l)));
  for (int l = 0; l < count; ++l) {
    mpq_srcptr q = entry(l);
    mpz_ptr target = out[offset + l];
    mpz_divexact(target, common_den, mpq_denref(q));
    mpz_mul(target, target, mpq_numref(q));
  }
}

// q = num/den in lowest terms; a power-of-two denominator only needs a shift.
void set_canonical(mpq_ptr q, mpz_srcptr num, mpz_srcptr den) {
  mpz_set(mpq_numref(q), num);
  mpz_set(mpq_denref(q), den);
  if (mpz_sgn(num) == 0) {
    mpz_set_ui(mpq_denref(q), 1);
    return;
  }
  if (is_power_of_two(den)) {
    const mp_bitcnt_t den_bits = mpz_scan1(den, 0);
    const mp_bitcnt_t shift = std::min(mpz_scan1(num, 0), den_bits);
    mpz_tdiv_q_2exp(mpq_numref(q), mpq_numref(q), shift);
    mpz_tdiv_q_2exp(mpq_denref(q), mpq_denref(q), shift);
    return;
  }
  mpq_canonicalize(q);
}

void gemm_exact(Tensor<Exact>& c, const Tensor<Exact>& a, const Tensor<Exact>& b, bool transpose_b, bool accumulate) {
  check_shapes(a.rows, a.cols, b.rows, b.cols, transpose_b);
  const int m = a.rows, k = a.cols, n = transpose_b ? b.rows : b.cols;
  if (!accumulate) c.resize(m, n);
  else if (c.rows != m || c.cols != n) throw std::invalid_argument("gemm: accumulator has the wrong shape");

  // a_int[i·k + l] / a_den[i] = a(i, l);  b_int[j·k + l] / b_den[j] = op(b)(l, j).
  MpzArray a_int(static_cast<std::size_t>(m) * k), a_den(m), b_int(static_cast<std::size_t>(n) * k), b_den(n);
  for (int i = 0; i < m; ++i)
    integerize([&](int l) { return a(i, l).backend().data(); }, k, a_den[i], a_int, static_cast<std::size_t>(i) * k);
  for (int j = 0; j < n; ++j)
    integerize([&](int l) { return (transpose_b ? b(j, l) : b(l, j)).backend().data(); }, k, b_den[j], b_int,
               static_cast<std::size_t>(j) * k);

  mpz_t dot, den;
  mpz_init(dot);
  mpz_init(den);
  Exact product;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      mpz_set_ui(dot, 0);
      for (int l = 0; l < k; ++l)
        mpz_addmul(dot, a_int[static_cast<std::size_t>(i) * k + l], b_int[static_cast<std::size_t>(j) * k + l]);
      mpz_mul(den, a_den[i], b_den[j]);
      if (accumulate) {
        set_canonical(product.backend().data(), dot, den);
        c(i, j) += product;
      } else {
        set_canonical(c(i, j).backend().data(), dot, den);
      }
    }
  }
  mpz_clear(dot);
  mpz_clear(den);
}

// Symbolic products: each entry is one sum node of the k products, built in one step.
void gemm_symbolic(Tensor<Expr>& c, const Tensor<Expr>& a, const Tensor<Expr>& b, bool transpose_b, bool accumulate) {
  check_shapes(a.rows, a.cols, b.rows, b.cols, transpose_b);
  const int m = a.rows, k = a.cols, n = transpose_b ? b.rows : b.cols;
  if (!accumulate) c.resize(m, n);
  ExprStore& store = ExprStore::current();
  std::vector<std::pair<Expr, Exact>> terms;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      terms.clear();
      if (accumulate) terms.emplace_back(c(i, j), Exact(1));
      for (int l = 0; l < k; ++l) terms.emplace_back(a(i, l) * (transpose_b ? b(j, l) : b(l, j)), Exact(1));
      c(i, j) = store.sum(terms, Exact(0));
    }
}

}  // namespace

void set_product_blocking(const ProductBlocking& sizes) {
  if (sizes.l1 <= 0 || sizes.l2 <= 0 || sizes.l3 <= 0)
    throw std::invalid_argument("product blocking: cache sizes must be positive byte counts, not " + std::to_string(sizes.l1) +
                                "," + std::to_string(sizes.l2) + "," + std::to_string(sizes.l3));
  Eigen::setCpuCacheSizes(sizes.l1, sizes.l2, sizes.l3);
}

ProductBlocking product_blocking() { return {Eigen::l1CacheSize(), Eigen::l2CacheSize(), Eigen::l3CacheSize()}; }

namespace {
// Before main: every program that links core blocks its products alike (layers.hpp says why).
[[maybe_unused]] const bool product_blocking_pinned = (set_product_blocking(kProductBlocking), true);
}  // namespace

template <class T>
void gemm(Tensor<T>& c, const Tensor<T>& a, const Tensor<T>& b, bool transpose_b, bool accumulate) {
  if (&c == &a || &c == &b) throw std::invalid_argument("gemm: the output must not alias an input");
  if constexpr (std::is_same_v<T, Exact>) gemm_exact(c, a, b, transpose_b, accumulate);
  else if constexpr (std::is_same_v<T, Expr>) gemm_symbolic(c, a, b, transpose_b, accumulate);
  else gemm_eigen(c, a, b, transpose_b, accumulate);
}

template <class T>
void gemm_transposed_a(Tensor<T>& c, const Tensor<T>& a, const Tensor<T>& b, bool accumulate) {
  if (a.rows != b.rows) throw std::invalid_argument("gemm_transposed_a: row counts differ");
  if (&c == &a || &c == &b) throw std::invalid_argument("gemm: the output must not alias an input");
  const int k = a.cols, m = b.cols, n = a.rows;
  if (accumulate && (c.rows != k || c.cols != m)) throw std::invalid_argument("gemm: accumulator has the wrong shape");
  if (!accumulate) c.resize(k, m);
  if (n == 0) {
    if (!accumulate) c.zero();
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, m, n, 1.0f, a.data.data(), a.cols, b.data.data(), b.cols,
                accumulate ? 1.0f : 0.0f, c.data.data(), m);
  } else {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const Matrix> A(a.data.data(), a.rows, a.cols), B(b.data.data(), b.rows, b.cols);
    Eigen::Map<Matrix> C(c.data.data(), k, m);
    if (accumulate) C.noalias() += A.transpose() * B;
    else C.noalias() = A.transpose() * B;
  }
}

template void gemm_transposed_a<float>(Tensor<float>&, const Tensor<float>&, const Tensor<float>&, bool);
template void gemm_transposed_a<double>(Tensor<double>&, const Tensor<double>&, const Tensor<double>&, bool);
template void gemm<float>(Tensor<float>&, const Tensor<float>&, const Tensor<float>&, bool, bool);
template void gemm<double>(Tensor<double>&, const Tensor<double>&, const Tensor<double>&, bool, bool);
template void gemm<Exact>(Tensor<Exact>&, const Tensor<Exact>&, const Tensor<Exact>&, bool, bool);
template void gemm<Expr>(Tensor<Expr>&, const Tensor<Expr>&, const Tensor<Expr>&, bool, bool);

}  // namespace symbreak
