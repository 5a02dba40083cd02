// SOAP (Vyas et al. 2024, arXiv 2409.11321, "SOAP: Improving and Stabilizing Shampoo using Adam"),
// after the authors' reference soap.py (the optimizer Paper B, arXiv 2601.22257, runs beside SGD, ECD
// and AdamW). For a matrix parameter W (m × n) with gradient G:
//   L ← β_s L + (1−β_s) G Gᵀ,  R ← β_s R + (1−β_s) Gᵀ G          Shampoo's two preconditioner factors
//   Q_L, Q_R: their eigenbases, set by an eigendecomposition at the first step and refreshed every
//   `precondition_frequency` steps by one power iteration and a QR (the columns first sorted by the
//   estimated eigenvalues diag(Qᵀ L Q), descending, with the second moment's rows/columns permuted alike)
//   Adam runs in the rotated basis: G' = Q_Lᵀ G Q_R, M ← β1 M + (1−β1) G (kept unrotated, so a new
//   basis needs no change to it), V ← β2 V + (1−β2) G'²,
//   W ← W − lr·√(1−β2^t)/(1−β1^t) · Q_L [(Q_Lᵀ M Q_R) / (√V + ε)] Q_Rᵀ, then W ← W·(1 − lr·wd).
// Vectors (biases, LayerNorm gains) are not preconditioned (the reference's precondition_1d = False):
// plain Adam. As in the reference, a parameter's first step only initialises L, R and the bases and
// does not move it, and the factors take this step's gradient after the update. Weight decay is
// decoupled and applies to matrices only, as symbreak's AdamW. The preconditioner algebra runs in
// double precision; each parameter is rounded to float once per step.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <istream>
#include <numeric>
#include <ostream>

#include "symbreak/experiments/optimizer.hpp"

namespace symbreak::experiments {
namespace {

using Matrix = Eigen::MatrixXd;

// The eigenvectors of a symmetric matrix as columns, by descending eigenvalue (the reference adds
// 1e-30·I before torch.linalg.eigh and flips its ascending order).
Matrix eigenbasis(const Matrix& m) {
  const Eigen::SelfAdjointEigenSolver<Matrix> solver(m + 1e-30 * Matrix::Identity(m.rows(), m.cols()));
  return solver.eigenvectors().rowwise().reverse();
}

void write_matrix(std::ostream& out, const Matrix& m) {
  write_u64(out, static_cast<std::uint64_t>(m.rows()));
  write_u64(out, static_cast<std::uint64_t>(m.cols()));
  for (Eigen::Index k = 0; k < m.size(); ++k) write_f64(out, m.data()[k]);
}
Matrix read_matrix(std::istream& in) {
  const std::uint64_t rows = read_u64(in), cols = read_u64(in);
  if (rows > (1u << 20) || cols > (1u << 20) || rows * cols > (std::uint64_t(1) << 30))
    throw std::runtime_error("checkpoint: implausible SOAP state size");
  Matrix m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (Eigen::Index k = 0; k < m.size(); ++k) m.data()[k] = read_f64(in);
  return m;
}

class Soap final : public Optimizer {
 public:
  explicit Soap(const OptimizerConfig& c) : c_(c) {}

  void step(const std::vector<Tensor<float>*>& params, const std::vector<const Tensor<float>*>& grads, double, double lr,
            double grad_scale) override {
    const double b1 = c_.beta1, b2 = c_.beta2, shampoo = c_.shampoo_beta >= 0 ? c_.shampoo_beta : c_.beta2;
    if (state_.empty()) {
      state_.resize(params.size());
      for (std::size_t i = 0; i < params.size(); ++i) {
        const Tensor<float>& p = *params[i];
        PerTensor& s = state_[i];
        s.m = Matrix::Zero(p.rows, p.cols);
        s.v = Matrix::Zero(p.rows, p.cols);
        if (p.rows > 1 && p.cols > 1) {
          const Matrix g = gradient(*grads[i], grad_scale);
          s.left = (1 - shampoo) * g * g.transpose();
          s.right = (1 - shampoo) * g.transpose() * g;
          s.q_left = eigenbasis(s.left);
          s.q_right = eigenbasis(s.right);
        }
      }
      return;  // the first step sets the preconditioner up and moves nothing
    }
    ++t_;
    const double step_size = lr * std::sqrt(1 - std::pow(b2, static_cast<double>(t_))) / (1 - std::pow(b1, static_cast<double>(t_)));
    const double keep = 1 - lr * c_.weight_decay;
    const bool refresh = t_ % static_cast<std::uint64_t>(c_.precondition_frequency) == 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      Tensor<float>& p = *params[i];
      PerTensor& s = state_[i];
      const bool matrix = s.q_left.size() > 0;
      const Matrix g = gradient(*grads[i], grad_scale);
      const Matrix g_rotated = matrix ? Matrix(s.q_left.transpose() * g * s.q_right) : g;
      s.m = b1 * s.m + (1 - b1) * g;
      s.v = b2 * s.v + (1 - b2) * g_rotated.cwiseAbs2();
      const Matrix m_rotated = matrix ? Matrix(s.q_left.transpose() * s.m * s.q_right) : s.m;
      const Matrix adam = m_rotated.array() / (s.v.array().sqrt() + c_.eps);
      const Matrix update = matrix ? Matrix(s.q_left * adam * s.q_right.transpose()) : adam;
      for (int r = 0; r < p.rows; ++r)
        for (int k = 0; k < p.cols; ++k) {
          double w = static_cast<double>(p(r, k)) - step_size * update(r, k);
          if (matrix) w *= keep;
          p(r, k) = static_cast<float>(w);
        }
      if (!matrix) continue;
      s.left = shampoo * s.left + (1 - shampoo) * g * g.transpose();
      s.right = shampoo * s.right + (1 - shampoo) * g.transpose() * g;
      if (refresh) {
        s.q_left = power_step(s.left, s.q_left, s.v, true);
        s.q_right = power_step(s.right, s.q_right, s.v, false);
      }
    }
  }

  void save(std::ostream& out) const override {
    write_u64(out, t_);
    write_u64(out, state_.size());
    for (const PerTensor& s : state_)
      for (const Matrix* m : {&s.m, &s.v, &s.left, &s.right, &s.q_left, &s.q_right}) write_matrix(out, *m);
  }
  void load(std::istream& in) override {
    t_ = read_u64(in);
    state_.assign(read_u64(in), {});
    for (PerTensor& s : state_)
      for (Matrix* m : {&s.m, &s.v, &s.left, &s.right, &s.q_left, &s.q_right}) *m = read_matrix(in);
  }

 private:
  struct PerTensor {
    Matrix m, v;                          // Adam's moments: m unrotated, v in the rotated basis
    Matrix left, right, q_left, q_right;  // Shampoo's factors and their eigenbases (empty for vectors)
  };

  static Matrix gradient(const Tensor<float>& g, double scale) {
    Matrix out(g.rows, g.cols);
    for (int r = 0; r < g.rows; ++r)
      for (int k = 0; k < g.cols; ++k) out(r, k) = static_cast<double>(g(r, k)) * scale;
    return out;
  }

  // One power iteration towards the eigenbasis of `factor`, from `basis` with its columns sorted by the
  // estimated eigenvalues (descending; ties keep their order); the second moment `v` follows the sort
  // along its rows (left) or columns (right).
  static Matrix power_step(const Matrix& factor, const Matrix& basis, Matrix& v, bool left) {
    const Eigen::VectorXd estimate = (basis.transpose() * factor * basis).diagonal();
    std::vector<Eigen::Index> order(static_cast<std::size_t>(estimate.size()));
    std::iota(order.begin(), order.end(), Eigen::Index{0});
    std::stable_sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) { return estimate(a) > estimate(b); });
    Matrix sorted(basis.rows(), basis.cols()), v_sorted(v.rows(), v.cols());
    for (std::size_t k = 0; k < order.size(); ++k) {
      sorted.col(static_cast<Eigen::Index>(k)) = basis.col(order[k]);
      if (left) v_sorted.row(static_cast<Eigen::Index>(k)) = v.row(order[k]);
      else v_sorted.col(static_cast<Eigen::Index>(k)) = v.col(order[k]);
    }
    v = v_sorted;
    const Eigen::HouseholderQR<Matrix> qr(factor * sorted);
    return qr.householderQ() * Matrix::Identity(basis.rows(), basis.cols());
  }

  OptimizerConfig c_;
  std::uint64_t t_ = 0;  // updates made (the first, set-up step is not one)
  std::vector<PerTensor> state_;
};

}  // namespace

std::unique_ptr<Optimizer> make_soap(const OptimizerConfig& config) { return std::make_unique<Soap>(config); }

}  // namespace symbreak::experiments
