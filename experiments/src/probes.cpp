#include "symbreak/experiments/probes.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace symbreak::experiments {
namespace {

// A ridge fit on rows [0, fit_rows) of X: the standardisation, and the eigendecomposition of the
// Gram matrix, from which the weights for any strength and target follow cheaply.
struct RidgeFit {
  Eigen::RowVectorXd mean, scale;  // per feature; a constant feature gets scale 0 (it is dropped)
  Eigen::MatrixXd eigenvectors;    // d×d
  Eigen::VectorXd eigenvalues;     // d
  Eigen::MatrixXd cross;           // Vᵀ·XᵀY, d × (targets·classes)
  Eigen::RowVectorXd target_mean;  // targets·classes
  int rows = 0;

  RidgeFit(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y, int fit_rows) : rows(fit_rows) {
    const auto Xf = X.topRows(fit_rows);
    mean = Xf.colwise().mean();
    Eigen::MatrixXd Z = Xf.rowwise() - mean;
    scale.resize(X.cols());
    for (Eigen::Index c = 0; c < X.cols(); ++c) {
      const double sd = std::sqrt(Z.col(c).squaredNorm() / fit_rows);
      // Below float rounding of the feature's magnitude the column is constant: drop it.
      scale[c] = sd > 1e-6 * (std::abs(mean[c]) + 1e-30) && sd > 0 ? 1.0 / sd : 0.0;
    }
    Z = Z.array().rowwise() * scale.array();
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(Z.transpose() * Z);
    eigenvectors = eig.eigenvectors();
    eigenvalues = eig.eigenvalues().cwiseMax(0.0);
    target_mean = Y.topRows(fit_rows).colwise().mean();
    cross = eigenvectors.transpose() * (Z.transpose() * (Y.topRows(fit_rows).rowwise() - target_mean));
  }

  Eigen::MatrixXd standardise(const Eigen::MatrixXd& X) const { return (X.rowwise() - mean).array().rowwise() * scale.array(); }
  // Scores of every target's classes for the standardised rows Z, at ridge strength λ·rows.
  Eigen::MatrixXd scores(const Eigen::MatrixXd& Z, double relative_ridge) const {
    const double lambda = relative_ridge * rows;
    const Eigen::VectorXd inv = (eigenvalues.array() + lambda).inverse();
    const Eigen::MatrixXd W = eigenvectors * (inv.asDiagonal() * cross);
    return (Z * W).rowwise() + target_mean;
  }
};

// The fraction of rows in [begin, end) whose argmax over target t's class block equals the label.
double accuracy(const Eigen::MatrixXd& scores, const std::vector<int>& labels, int t, int classes, int begin, int end) {
  int right = 0;
  for (int r = begin; r < end; ++r) {
    Eigen::Index best = 0;
    scores.row(r - begin).segment(static_cast<Eigen::Index>(t) * classes, classes).maxCoeff(&best);
    right += static_cast<int>(best) == labels[r];
  }
  return end > begin ? static_cast<double>(right) / (end - begin) : 0.0;
}

}  // namespace

std::vector<ProbeResult> ridge_probes_grouped(const Eigen::MatrixXd& X, const std::vector<std::vector<int>>& labels, int classes,
                                              int rows_per_group, const ProbeOptions& options) {
  const int rows = static_cast<int>(X.rows());
  if (rows_per_group < 1 || rows % rows_per_group != 0) throw std::invalid_argument("ridge_probes: rows are not whole groups");
  const int groups = rows / rows_per_group;
  const int train_groups = static_cast<int>(std::floor(options.train_fraction * groups));
  const int fit_groups = static_cast<int>(std::floor((1 - options.validation_fraction) * train_groups));
  if (fit_groups < 2 || train_groups <= fit_groups || groups <= train_groups)
    throw std::invalid_argument("ridge_probes: too few examples to split into fit, validation and held-out parts");
  const int train_rows = train_groups * rows_per_group, fit_rows = fit_groups * rows_per_group;
  const int targets = static_cast<int>(labels.size());

  Eigen::MatrixXd Y = Eigen::MatrixXd::Zero(rows, static_cast<Eigen::Index>(targets) * classes);
  for (int t = 0; t < targets; ++t) {
    if (static_cast<int>(labels[t].size()) != rows)
      throw std::invalid_argument("ridge_probes: a label vector has the wrong length");
    for (int r = 0; r < rows; ++r) {
      if (labels[t][r] < 0 || labels[t][r] >= classes) throw std::invalid_argument("ridge_probes: a label is out of range");
      Y(r, t * classes + labels[t][r]) = 1.0;
    }
  }

  // Choose each target's ridge strength on the validation rows.
  const RidgeFit inner(X, Y, fit_rows);
  const Eigen::MatrixXd Zval = inner.standardise(X.middleRows(fit_rows, train_rows - fit_rows));
  std::vector<double> best_acc(targets, -1.0), best_ridge(targets, options.ridge_grid.front());
  for (double ridge : options.ridge_grid) {
    const Eigen::MatrixXd s = inner.scores(Zval, ridge);
    for (int t = 0; t < targets; ++t) {
      const double a = accuracy(s, labels[t], t, classes, fit_rows, train_rows);
      if (a > best_acc[t]) {
        best_acc[t] = a;
        best_ridge[t] = ridge;
      }
    }
  }

  // Refit on all training rows with the chosen strengths; score the held-out rows.
  const RidgeFit outer(X, Y, train_rows);
  const Eigen::MatrixXd Ztest = outer.standardise(X.bottomRows(rows - train_rows));
  std::vector<ProbeResult> out(targets);
  for (double ridge : options.ridge_grid) {
    bool used = false;
    for (int t = 0; t < targets; ++t) used = used || best_ridge[t] == ridge;
    if (!used) continue;
    const Eigen::MatrixXd s = outer.scores(Ztest, ridge);
    for (int t = 0; t < targets; ++t)
      if (best_ridge[t] == ridge)
        out[t] = {accuracy(s, labels[t], t, classes, train_rows, rows), ridge, classes, rows - train_rows};
  }
  return out;
}

std::vector<ProbeResult> ridge_probes(const Eigen::MatrixXd& X, const std::vector<std::vector<int>>& labels, int classes,
                                      const ProbeOptions& options) {
  return ridge_probes_grouped(X, labels, classes, 1, options);
}

}  // namespace symbreak::experiments
