// What the property catalogue tests: a subject maps token sequences to per-position outputs and
// declares its mask and positional encoding. The reference model is one subject; a user's own model
// function is another; deliberately broken variants of the reference show that every property has
// teeth.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "symbreak/model.hpp"

namespace symbreak::properties {

// What a subject claims about itself. The catalogue derives which properties apply, and what they
// must show, from this declaration alone.
struct Declaration {
  MaskKind mask = MaskKind::none;
  PositionalEncoding positional_encoding = PositionalEncoding::none;
  int layers = 1;
  int vocab_size = 16;
  int context_length = 16;
};

Declaration declaration_of(const ModelConfig& config);

template <class T>
class Subject {
 public:
  virtual ~Subject() = default;
  virtual const Declaration& declaration() const = 0;
  // tokens: batch × seq, row-major → outputs (batch·seq, k).
  virtual Tensor<T> forward(std::span<const int> tokens, int batch, int seq) const = 0;
  Tensor<T> forward(std::span<const int> tokens) const { return forward(tokens, 1, static_cast<int>(tokens.size())); }
  // Weight-level properties (rotations, biases, heads) need the model; opaque functions have none.
  virtual const Model<T>* model() const { return nullptr; }
  // The same subject (same declaration, same faults) with different weights or biases.
  virtual std::shared_ptr<const Subject<T>> with_model(Model<T>) const {
    throw std::logic_error("this subject is an opaque function: weight-level properties do not apply");
  }
};

// Deliberately broken variants of the reference model. Each is a plausible bug that one property
// (at least) must catch; `epsilon` sets its size.
enum class Fault {
  none,
  position_offset,     // adds ε·i to every coordinate at position i, while declaring no PE
  future_leak,         // causal mask off by one: query i also sees key i+1
  mask_ignored,        // declares a causal mask, attends everywhere
  pe_ignored,          // declares a positional encoding, never adds it
  hidden_query_bias,   // a query bias ε·(1, 2, …) in layer 0 that the declaration does not know
  hidden_value_bias,   // the same for values
  head_asymmetry,      // head h of layer 0 gets a hidden query bias ε·h
  key_bias_to_query,   // a key bias lands on the queries instead
  query_bias_dropped,  // query biases are silently ignored
  value_bias_dropped,  // value biases are silently ignored
  batch_cross_talk,    // batched inputs run as one long sequence, so batch elements attend to each other
};

std::string_view to_string(Fault fault);
Fault fault_from_string(std::string_view name);  // throws std::invalid_argument listing the allowed names
std::vector<Fault> all_faults();

struct FaultSpec {
  Fault fault = Fault::none;
  double epsilon = 1e-3;
};

// The reference model as a subject, optionally with a fault.
template <class T>
class ModelSubject final : public Subject<T> {
 public:
  explicit ModelSubject(Model<T> declared, FaultSpec fault = {});
  const Declaration& declaration() const override { return declaration_; }
  Tensor<T> forward(std::span<const int> tokens, int batch, int seq) const override;
  const Model<T>* model() const override { return &declared_; }
  std::shared_ptr<const Subject<T>> with_model(Model<T> model) const override;
  const Model<T>& actual() const { return actual_; }

 private:
  Model<T> declared_, actual_;
  FaultSpec fault_;
  Declaration declaration_;
};

// A user's function as a subject: any callable (tokens, batch, seq) → (batch·seq, k) outputs.
template <class T>
class FunctionSubject final : public Subject<T> {
 public:
  using Function = std::function<Tensor<T>(std::span<const int>, int, int)>;
  FunctionSubject(Function f, Declaration declaration) : f_(std::move(f)), declaration_(declaration) {}
  const Declaration& declaration() const override { return declaration_; }
  Tensor<T> forward(std::span<const int> tokens, int batch, int seq) const override { return f_(tokens, batch, seq); }

 private:
  Function f_;
  Declaration declaration_;
};

}  // namespace symbreak::properties
