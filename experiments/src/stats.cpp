#include "symbreak/experiments/stats.hpp"

#include <boost/math/distributions/students_t.hpp>
#include <limits>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "symbreak/rng.hpp"

namespace symbreak::experiments {

Interval wilson(int successes, int n, double z) {
  if (n <= 0) return {std::numeric_limits<double>::quiet_NaN(), 0.0, 1.0};
  const double p = static_cast<double>(successes) / n, z2 = z * z;
  const double centre = (p + z2 / (2.0 * n)) / (1 + z2 / n);
  const double half = z / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
  return {p, std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double median(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  const double a = values[n / 2 - 1], b = values[n / 2];
  return std::isinf(a) || std::isinf(b) ? (a == b ? a : std::max(a, b)) : (a + b) / 2;
}

double mean(const std::vector<double>& values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

Interval paired_t_interval(const std::vector<double>& d, double level) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (d.empty()) return {nan, nan, nan};
  // Summed as deviations from the first value, so that equal values (a tie at a threshold) give
  // exactly that value and a zero width, never a rounding-sized interval around it.
  const double shift = d.front();
  double sum = 0;
  for (double x : d) sum += x - shift;
  const double n = static_cast<double>(d.size()), offset = sum / n, m = shift + offset;
  if (d.size() < 2) return {m, nan, nan};
  double ss = 0;
  for (double x : d) ss += (x - shift - offset) * (x - shift - offset);
  const double se = std::sqrt(ss / (n - 1) / n);
  const boost::math::students_t t(n - 1);
  const double half = boost::math::quantile(boost::math::complement(t, (1 - level) / 2)) * se;
  return {m, m - half, m + half};
}

double pearson(const Eigen::VectorXd& x, const Eigen::VectorXd& y) {
  const Eigen::VectorXd xc = x.array() - x.mean(), yc = y.array() - y.mean();
  const double sx = xc.squaredNorm(), sy = yc.squaredNorm();
  if (sx <= 0 || sy <= 0) return std::numeric_limits<double>::quiet_NaN();
  return xc.dot(yc) / std::sqrt(sx * sy);
}

namespace {

// Columns centred and scaled to unit norm; a constant column becomes NaN.
Eigen::MatrixXd standardised(const Eigen::MatrixXd& X) {
  Eigen::MatrixXd Z = X.rowwise() - X.colwise().mean();
  for (Eigen::Index c = 0; c < Z.cols(); ++c) {
    const double norm = Z.col(c).norm();
    if (norm > 0) Z.col(c) /= norm;
    else Z.col(c).setConstant(std::numeric_limits<double>::quiet_NaN());
  }
  return Z;
}

}  // namespace

Eigen::MatrixXd pearson_matrix(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y) {
  // NaN columns propagate into exactly their row or column of the product.
  return standardised(X).transpose() * standardised(Y);
}

namespace {

// HSIC_u of two linear kernels K = XXᵀ, L = YYᵀ with their diagonals removed, up to the factor
// 1/(P(P−3)) that cancels in CKA: tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((P−1)(P−2)) − 2/(P−2)·1ᵀK̃L̃1, in feature
// space for centred X and Y (where Xᵀ1 = 0), which leaves
// ‖YᵀX‖²_F − P/(P−2)·Σ_p ‖x_p‖²‖y_p‖² + (Σ‖x_p‖²)(Σ‖y_p‖²)/((P−1)(P−2)).
double hsic_unbiased(double cross, const CkaSlot& x, const CkaSlot& y) {
  const double P = static_cast<double>(x.row_sq.size());
  return cross - P / (P - 2) * x.row_sq.dot(y.row_sq) + x.total_sq * y.total_sq / ((P - 1) * (P - 2));
}

}  // namespace

CkaSlot cka_slot(const Eigen::MatrixXd& X) {
  CkaSlot s;
  s.centred = X.rowwise() - X.colwise().mean();
  const Eigen::MatrixXd gram = s.centred.transpose() * s.centred;
  s.self_norm = gram.norm();
  s.row_sq = s.centred.rowwise().squaredNorm();
  s.total_sq = s.row_sq.sum();
  const double self = X.rows() > 3 ? hsic_unbiased(gram.squaredNorm(), s, s) : 0;
  s.self_unbiased = self > 0 ? std::sqrt(self) : std::numeric_limits<double>::quiet_NaN();
  return s;
}

CkaPair linear_cka_both(const CkaSlot& x, const CkaSlot& y) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  if (x.self_norm <= 0 || y.self_norm <= 0) return {nan, nan};
  const double cross = (y.centred.transpose() * x.centred).squaredNorm();
  const double unbiased = std::isnan(x.self_unbiased) || std::isnan(y.self_unbiased)
                              ? nan
                              : hsic_unbiased(cross, x, y) / (x.self_unbiased * y.self_unbiased);
  return {cross / (x.self_norm * y.self_norm), unbiased};
}

double linear_cka(const CkaSlot& x, const CkaSlot& y) { return linear_cka_both(x, y).biased; }
double linear_cka_unbiased(const CkaSlot& x, const CkaSlot& y) { return linear_cka_both(x, y).unbiased; }

double linear_cka(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y) { return linear_cka(cka_slot(X), cka_slot(Y)); }

}  // namespace symbreak::experiments
