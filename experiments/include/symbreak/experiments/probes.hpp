// Linear probes: how much of a label (an input digit, a position) can a linear map read from a
// representation? Ridge regression onto one-hot targets, classified by argmax, scored on held-out
// examples. The ridge strength is chosen on a validation part of the training examples only.
#pragma once

#include <Eigen/Dense>

#include <vector>

namespace symbreak::experiments {

struct ProbeOptions {
  double train_fraction = 0.8;        // the first 80 % of the rows train, the last 20 % are held out
  double validation_fraction = 0.25;  // of the training rows, the last quarter picks the ridge strength
  // Ridge strengths, relative to the number of training rows (the features are standardised).
  std::vector<double> ridge_grid{1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0};
};

struct ProbeResult {
  double accuracy = 0;  // on the held-out rows
  double ridge = 0;     // the chosen relative strength
  int classes = 0;
  int held_out = 0;
};

// Several probes on the same features X (rows = examples): one per label vector, each label in
// [0, classes). Returns one result per label vector. The eigendecomposition of XᵀX is shared, so
// many targets and ridge strengths cost one decomposition per split.
std::vector<ProbeResult> ridge_probes(const Eigen::MatrixXd& X, const std::vector<std::vector<int>>& labels, int classes,
                                      const ProbeOptions& options = {});

// Rows grouped into examples: rows [g·rows_per_group, (g+1)·rows_per_group) belong to example g, and
// the train/held-out split cuts between examples, never inside one (position probes: one example is
// one prompt, its rows are its positions).
std::vector<ProbeResult> ridge_probes_grouped(const Eigen::MatrixXd& X, const std::vector<std::vector<int>>& labels, int classes,
                                              int rows_per_group, const ProbeOptions& options = {});

}  // namespace symbreak::experiments
