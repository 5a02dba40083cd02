#include "symbreak/properties/subject.hpp"

#include <stdexcept>

namespace symbreak::properties {
namespace {

constexpr std::pair<Fault, std::string_view> kFaultNames[] = {
    {Fault::none, "none"},
    {Fault::position_offset, "position_offset"},
    {Fault::future_leak, "future_leak"},
    {Fault::mask_ignored, "mask_ignored"},
    {Fault::pe_ignored, "pe_ignored"},
    {Fault::hidden_query_bias, "hidden_query_bias"},
    {Fault::hidden_value_bias, "hidden_value_bias"},
    {Fault::head_asymmetry, "head_asymmetry"},
    {Fault::key_bias_to_query, "key_bias_to_query"},
    {Fault::query_bias_dropped, "query_bias_dropped"},
    {Fault::value_bias_dropped, "value_bias_dropped"},
    {Fault::batch_cross_talk, "batch_cross_talk"},
};

template <class T>
Tensor<T>& ensure(Tensor<T>& bias, const ModelConfig& c) {
  if (bias.size() == 0) bias = Tensor<T>(c.heads, c.d_head());
  return bias;
}

// The model the faulty subject really runs.
template <class T>
Model<T> apply_fault(Model<T> m, const FaultSpec& spec) {
  const T eps = Arith<T>::from_double(spec.epsilon);
  ModelConfig& c = m.config;
  switch (spec.fault) {
    case Fault::none:
    case Fault::batch_cross_talk:  // a forward-path fault, see ModelSubject::forward
      break;
    case Fault::position_offset: {
      Tensor<T>* table = nullptr;
      if (c.positional_encoding == PositionalEncoding::learned) {
        table = &m.weights.position_embedding;
      } else {
        if (c.positional_encoding == PositionalEncoding::none) m.sinusoid = Tensor<T>(c.context_length, c.d_model);
        c.positional_encoding = PositionalEncoding::sinusoidal;
        table = &m.sinusoid;
      }
      for (int i = 0; i < table->rows; ++i)
        for (int k = 0; k < table->cols; ++k) (*table)(i, k) += eps * T(i);
      break;
    }
    case Fault::future_leak:
      c.mask = MaskKind::explicit_mask;
      c.explicit_mask.assign(c.context_length, std::vector<bool>(c.context_length, false));
      for (int i = 0; i < c.context_length; ++i)
        for (int j = 0; j <= i + 1 && j < c.context_length; ++j) c.explicit_mask[i][j] = true;
      break;
    case Fault::mask_ignored:
      c.mask = MaskKind::none;
      c.explicit_mask.clear();
      break;
    case Fault::pe_ignored:
      m.weights.position_embedding.zero();
      m.sinusoid.zero();
      break;
    case Fault::hidden_query_bias:
    case Fault::hidden_value_bias: {
      AttentionBias<T>& b = m.unlearned_bias[0];
      Tensor<T>& t = ensure(spec.fault == Fault::hidden_query_bias ? b.query : b.value, c);
      for (int h = 0; h < t.rows; ++h)
        for (int k = 0; k < t.cols; ++k) t(h, k) += eps * T(k + 1);
      break;
    }
    case Fault::head_asymmetry: {
      Tensor<T>& t = ensure(m.unlearned_bias[0].query, c);
      for (int h = 0; h < t.rows; ++h)
        for (int k = 0; k < t.cols; ++k) t(h, k) += eps * T(h);
      break;
    }
    case Fault::key_bias_to_query:
      for (auto& b : m.unlearned_bias) {
        if (b.key.size() == 0) continue;
        Tensor<T>& q = ensure(b.query, c);
        for (std::size_t i = 0; i < q.size(); ++i) q.data[i] += b.key.data[i];
        b.key = Tensor<T>();
      }
      break;
    case Fault::query_bias_dropped:
      for (auto& b : m.unlearned_bias) b.query = Tensor<T>();
      break;
    case Fault::value_bias_dropped:
      for (auto& b : m.unlearned_bias) b.value = Tensor<T>();
      break;
  }
  return m;
}

}  // namespace

Declaration declaration_of(const ModelConfig& config) {
  return {config.mask, config.positional_encoding, config.layers, config.vocab_size, config.context_length};
}

std::string_view to_string(Fault fault) {
  for (const auto& [f, name] : kFaultNames)
    if (f == fault) return name;
  return "?";
}

Fault fault_from_string(std::string_view name) {
  std::string allowed;
  for (const auto& [f, n] : kFaultNames) {
    if (n == name) return f;
    allowed += (allowed.empty() ? "" : ", ") + std::string(n);
  }
  throw std::invalid_argument("unknown fault \"" + std::string(name) + "\" (allowed: " + allowed + ")");
}

std::vector<Fault> all_faults() {
  std::vector<Fault> out;
  for (const auto& [f, name] : kFaultNames)
    if (f != Fault::none) out.push_back(f);
  return out;
}

template <class T>
ModelSubject<T>::ModelSubject(Model<T> declared, FaultSpec fault)
    : declared_(std::move(declared)), fault_(fault), declaration_(declaration_of(declared_.config)) {
  actual_ = apply_fault(declared_, fault_);
}

template <class T>
Tensor<T> ModelSubject<T>::forward(std::span<const int> tokens, int batch, int seq) const {
  thread_local Activations<T> acts;  // reused: a forward pass then allocates nothing
  if (fault_.fault == Fault::batch_cross_talk && batch > 1) {
    // The bug: the batch is flattened into one sequence, so its elements attend to each other.
    symbreak::forward(actual_, tokens, 1, batch * seq, acts);
  } else {
    symbreak::forward(actual_, tokens, batch, seq, acts);
  }
  return acts.logits;
}

template <class T>
std::shared_ptr<const Subject<T>> ModelSubject<T>::with_model(Model<T> model) const {
  return std::make_shared<ModelSubject<T>>(std::move(model), fault_);
}

template class ModelSubject<float>;
template class ModelSubject<double>;
template class ModelSubject<Exact>;

}  // namespace symbreak::properties
