// How a user runs the symmetry catalogue on their own model in their own GoogleTest binary.
// Nothing here knows symbreak's reference model: the models are the user's functions.
#include <gtest/gtest.h>

#include <symbreak/arith.hpp>
#include <symbreak/properties/gtest.hpp>

namespace {

using symbreak::Arith;
using symbreak::Tensor;
using symbreak::properties::ArithTag;

// The user's model: one attention head over learned token vectors, no positional encoding, no mask,
// written generically so symbreak can run it in float, double and exact arithmetic.
struct BagOfTokensAttention {
  static constexpr int vocab = 6, width = 3;
  double table[vocab][width] = {{0.5, -1, 0.25}, {1, 0.75, -0.5}, {-0.25, 0.5, 1}, {0.125, -0.5, -1}, {2, 0, 0.5}, {-1, 1, 0.25}};

  template <class T>
  Tensor<T> operator()(std::span<const int> tokens, ArithTag<T>) const {
    const int n = static_cast<int>(tokens.size());
    Tensor<T> out(n, width);
    for (int i = 0; i < n; ++i) {
      // softmax over all positions of (x_i · x_j), then the weighted sum of x_j
      std::vector<T> w(n);
      T max_score(0), sum(0);
      for (int j = 0; j < n; ++j) {
        T s(0);
        for (int k = 0; k < width; ++k)
          s += Arith<T>::from_double(table[tokens[i]][k]) * Arith<T>::from_double(table[tokens[j]][k]);
        w[j] = s;
        if (j == 0 || s > max_score) max_score = s;
      }
      for (int j = 0; j < n; ++j) sum += (w[j] = Arith<T>::exp(w[j] - max_score));
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < width; ++k) out(i, k) += w[j] / sum * Arith<T>::from_double(table[tokens[j]][k]);
    }
    return out;
  }
};

symbreak::properties::Declaration unmasked_nope() {
  symbreak::properties::Declaration d;
  d.mask = symbreak::MaskKind::none;
  d.positional_encoding = symbreak::PositionalEncoding::none;
  d.layers = 1;
  d.vocab_size = BagOfTokensAttention::vocab;
  d.context_length = 10;
  return d;
}

symbreak::properties::Target bag_of_tokens() {
  return symbreak::properties::function_target("bag-of-tokens", unmasked_nope(), BagOfTokensAttention{});
}

// One GoogleTest test per property; those that do not apply to this declaration are skipped.
SYMBREAK_SYMMETRY_SUITE(UserBagOfTokens, bag_of_tokens);

// A model that takes an embedding matrix: mean pooling plus the row itself, float-only.
symbreak::properties::Target mean_pool() {
  return symbreak::properties::embedding_function_target("mean-pool", unmasked_nope(), 4, [](const auto& x, auto tag) {
    using T = typename decltype(tag)::type;
    Tensor<T> out(x.rows, x.cols);
    for (int k = 0; k < x.cols; ++k) {
      T mean(0);
      for (int i = 0; i < x.rows; ++i) mean += x(i, k);
      mean /= T(x.rows);
      for (int i = 0; i < x.rows; ++i) out(i, k) = x(i, k) + mean;
    }
    return out;
  });
}

TEST(UserMeanPool, WholeCatalogueInOneTest) { symbreak::properties::expect_symmetries(mean_pool()); }

}  // namespace
