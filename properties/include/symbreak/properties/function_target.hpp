// Running the catalogue on a user's own model function. The function is any callable
//
//   f(std::span<const int> tokens, symbreak::properties::ArithTag<T>) -> symbreak::Tensor<T>   (n, k)
//
// for one sequence, or, for models that take an embedding matrix,
//
//   g(const symbreak::Tensor<T>& x, ArithTag<T>) -> Tensor<T>   x: (n, d_in), result (n, k)
//
// plus a Declaration of its mask, positional encoding, depth, vocabulary and context length. The
// callable is used in every arithmetic it accepts (float, double, Exact); float checks are judged
// against Exact when the callable accepts Exact, else against float64.
#pragma once

#include <memory>
#include <string>
#include <type_traits>

#include "symbreak/properties/runner.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::properties {

template <class T>
struct ArithTag {
  using type = T;
};

namespace detail {

template <class T, class F>
SubjectFactory<T> sequence_factory(F f, Declaration declaration) {
  if constexpr (std::is_invocable_r_v<Tensor<T>, const F&, std::span<const int>, ArithTag<T>>) {
    return [f, declaration](const ModelSpec&) {
      return std::make_shared<FunctionSubject<T>>(
          [f](std::span<const int> tokens, int batch, int seq) {
            // Batches run element by element: the user's function sees one sequence at a time.
            Tensor<T> out;
            for (int b = 0; b < batch; ++b) {
              const Tensor<T> y = f(tokens.subspan(static_cast<std::size_t>(b) * seq, seq), ArithTag<T>{});
              if (b == 0) out = Tensor<T>(batch * seq, y.cols);
              for (int i = 0; i < seq; ++i)
                for (int k = 0; k < y.cols; ++k) out(b * seq + i, k) = y(i, k);
            }
            return out;
          },
          declaration);
    };
  } else {
    return nullptr;
  }
}

inline ModelSpec declared_spec(const Declaration& d) {
  ModelSpec spec;
  spec.config.vocab_size = d.vocab_size;
  spec.config.context_length = d.context_length;
  spec.config.layers = d.layers;
  spec.config.mask = d.mask;
  spec.config.positional_encoding = d.positional_encoding;
  spec.config.d_model = 1;
  spec.config.heads = 1;
  spec.config.d_ff = 1;
  spec.opaque = true;
  return spec;
}

}  // namespace detail

template <class F>
Target function_target(std::string name, Declaration declaration, F f) {
  Target t;
  t.name = std::move(name);
  t.f32 = detail::sequence_factory<float>(f, declaration);
  t.f64 = detail::sequence_factory<double>(f, declaration);
  t.exact = detail::sequence_factory<Exact>(f, declaration);
  t.fixed = detail::declared_spec(declaration);
  t.has_weights = false;
  return t;
}

// Tokens become rows of a fixed random embedding table E (vocab_size × d_in, N(0,1) float values,
// exact in every arithmetic), so the token-level properties apply to a function of embeddings.
template <class G>
Target embedding_function_target(std::string name, Declaration declaration, int d_in, G g, std::uint64_t seed = 1) {
  auto table = std::make_shared<Tensor<float>>(declaration.vocab_size, d_in);
  Rng rng(stream_seed(seed, "embedding_function_target"));
  for (auto& v : table->data) v = static_cast<float>(rng.normal());
  const auto adapt = [g, table](std::span<const int> tokens, auto tag) {
    using T = typename decltype(tag)::type;
    Tensor<T> x(static_cast<int>(tokens.size()), table->cols);
    for (int i = 0; i < x.rows; ++i)
      for (int k = 0; k < x.cols; ++k) x(i, k) = Arith<T>::from_double((*table)(tokens[i], k));
    return g(x, tag);
  };
  return function_target(std::move(name), declaration, adapt);
}

}  // namespace symbreak::properties
