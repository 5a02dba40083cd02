// Gradients of a batch on several threads, data-parallel: the batch is cut into one contiguous part
// per thread, each part runs the model's forward and backward with its own activations and gradient
// buffers (GEMMs single-threaded), and the parts' gradients are summed in a fixed order. On two cores
// this avoids the BLAS worker threads' spinning between many mid-sized GEMMs, and the result depends
// on the thread count only, never on timing.
#pragma once

#include <span>
#include <vector>

#include "symbreak/model.hpp"

namespace symbreak::experiments {

class GradientRunner {
 public:
  GradientRunner(const ModelConfig& config, int threads);

  void zero();  // the next pass overwrites the gradients (the large matrices are never memset)
  // Adds the gradient of this pass's loss, weighted by `weight`, where the loss is the mean
  // cross-entropy over the rows with a target (target < 0: none). Returns that mean loss.
  double accumulate(const Model<float>& model, std::span<const int> tokens, int batch, int seq, std::span<const int> targets,
                    double weight = 1.0);
  // Sums the parts into gradients() (call once after the passes of a step).
  Weights<float>& reduce();
  Weights<float>& gradients() { return parts_[0].grads; }
  int threads() const { return static_cast<int>(parts_.size()); }

 private:
  struct Part {
    Weights<float> grads;
    Activations<float> acts;
    Tensor<float> dlogits;
  };
  std::vector<Part> parts_;
  bool fresh_ = true;  // the next pass writes the gradients instead of adding to them
};

// Runs forward on a batch split over threads and returns the logits at the given positions of each
// sequence, (batch · positions, V): row i · positions.size() + k is sequence i at positions[k].
Tensor<float> position_logits(const Model<float>& model, std::span<const int> tokens, int batch, int seq,
                              const std::vector<int>& positions, int threads);
// The logits at the last position of each sequence, (batch, V).
Tensor<float> last_position_logits(const Model<float>& model, std::span<const int> tokens, int batch, int seq, int threads);

}  // namespace symbreak::experiments
