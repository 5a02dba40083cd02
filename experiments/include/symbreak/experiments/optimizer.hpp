// Optimizers over the model's parameter tensors: AdamW, SGD with momentum (Nesterov optional), ECD
// (Energy Conserving Descent) and SOAP (Adam in Shampoo's eigenbasis). Each keeps its state so that a checkpoint resumes bit-identically.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "symbreak/experiments/train_config.hpp"
#include "symbreak/tensor.hpp"

namespace symbreak::experiments {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update. `loss` is the minibatch loss (ECD needs it), `lr` the scheduled learning rate, and
  // every gradient is multiplied by `grad_scale` as it is read (gradient clipping without a pass).
  virtual void step(const std::vector<Tensor<float>*>& params, const std::vector<const Tensor<float>*>& grads, double loss,
                    double lr, double grad_scale = 1.0) = 0;
  virtual void save(std::ostream& out) const = 0;
  virtual void load(std::istream& in) = 0;
  // The per-parameter state, under PyTorch's names for it (AdamW: exp_avg, exp_avg_sq; SGD:
  // momentum_buffer), one vector per parameter tensor in named_parameters order; empty before the
  // first step. Training traces compare it with PyTorch's optimizer.state.
  using NamedState = std::vector<std::pair<std::string, const std::vector<std::vector<float>>*>>;
  virtual NamedState state() const { return {}; }
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::uint64_t seed);
// SOAP (soap.cpp), which make_optimizer builds for "soap".
std::unique_ptr<Optimizer> make_soap(const OptimizerConfig& config);

// Runs f(tensor index, begin, end) over every element of every tensor, in chunks of ~32K elements, in
// ONE parallel region (elementwise updates: the result does not depend on the schedule).
void for_each_chunk(const std::vector<std::size_t>& sizes, const std::function<void(std::size_t, std::size_t, std::size_t)>& f);

// The global L2 norm of the gradients, summed deterministically.
double gradient_norm(const std::vector<const Tensor<float>*>& grads);
// The factor that brings a gradient of this norm down to max_norm (1 when already below; 0 = no clipping).
double clip_scale(double norm, double max_norm);

// Little-endian binary helpers for checkpoints (they throw std::runtime_error on a short read).
void write_u64(std::ostream& out, std::uint64_t v);
std::uint64_t read_u64(std::istream& in);
void write_f64(std::ostream& out, double v);
double read_f64(std::istream& in);
void write_floats(std::ostream& out, const std::vector<float>& v);
void read_floats(std::istream& in, std::vector<float>& v);  // sizes must match
std::vector<float> read_float_vector(std::istream& in);

}  // namespace symbreak::experiments
