// The statistics behind every measured claim: intervals for rates and for differences over seeds, and
// the similarity measures between layers (Pearson, linear CKA).
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <limits>
#include <vector>

namespace symbreak::experiments {

// Not measured, or undefined (a ratio over nothing); JSON writes it as null.
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Interval {
  double estimate = std::numeric_limits<double>::quiet_NaN();
  double lo = std::numeric_limits<double>::quiet_NaN();
  double hi = std::numeric_limits<double>::quiet_NaN();
};

// The normal quantile for a two-sided 95 % interval.
inline constexpr double kZ95 = 1.959963984540054;

// Wilson score interval for a binomial rate (Wilson 1927): successes of n, at confidence z.
// n = 0 gives the uninformative [0, 1] around NaN.
Interval wilson(int successes, int n, double z = kZ95);

// The median (the mean of the two middle values for an even count); NaN for no values.
// +inf values are allowed (a censored "never" counts as larger than every number).
// The Student-t interval of the mean of paired differences (one per seed): mean ± t_{n−1} · sd/√n.
// Seeds are paired across conditions (the same initial weights and data), so a claim about a
// difference between conditions is decided on the per-seed differences. NaN bounds below 2 values.
Interval paired_t_interval(const std::vector<double>& differences, double level = 0.95);

double median(std::vector<double> values);
double mean(const std::vector<double>& values);

// Pearson correlation of two samples; NaN when either has zero variance.
double pearson(const Eigen::VectorXd& x, const Eigen::VectorXd& y);
// Every column of X (P×a) against every column of Y (P×b): an a×b matrix of Pearson correlations.
// Entries whose column has zero variance are NaN (undefined, never a division by zero).
Eigen::MatrixXd pearson_matrix(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y);

// Linear CKA (Kornblith et al. 2019) between two representations of the same P examples, X (P×a) and
// Y (P×b): ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) after centring each column. Invariant to orthogonal
// transforms and isotropic scaling of either side, so it compares layers that share no basis.
// NaN when either side is constant.
double linear_cka(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y);

// Centres the columns and precomputes what CKA needs, so that many pairs of slots reuse the work.
struct CkaSlot {
  Eigen::MatrixXd centred;   // P×a
  double self_norm = 0;      // ‖XᵀX‖_F of the centred X
  Eigen::VectorXd row_sq;    // ‖x_p‖² per example p (the kernel's diagonal, for the unbiased estimator)
  double total_sq = 0;       // Σ_p ‖x_p‖²
  double self_unbiased = 0;  // √HSIC_u(X, X) (unscaled); NaN when the estimate is not positive
};
CkaSlot cka_slot(const Eigen::MatrixXd& X);
double linear_cka(const CkaSlot& x, const CkaSlot& y);

// Linear CKA from the unbiased HSIC estimator (Song et al. 2012; the "debiased" CKA of Kornblith et
// al. 2019): the biased estimator has a floor of about d/P for unrelated representations (P examples
// of width d), the unbiased one is centred on 0 there, so it can be slightly negative. NaN when
// either side's own estimate is not positive.
double linear_cka_unbiased(const CkaSlot& x, const CkaSlot& y);
// Both estimators from one cross product (the expensive part).
struct CkaPair {
  double biased, unbiased;
};
CkaPair linear_cka_both(const CkaSlot& x, const CkaSlot& y);

}  // namespace symbreak::experiments
