#include "symbreak/properties/transforms.hpp"

#include <stdexcept>

#include "symbreak/layers.hpp"
#include "symbreak/linalg.hpp"

namespace symbreak::properties {
namespace {

// Columns [c0, c0 + width) of w, exactly.
template <class T>
Tensor<Exact> columns(const Tensor<T>& w, int c0, int width) {
  Tensor<Exact> out(w.rows, width);
  for (int r = 0; r < w.rows; ++r)
    for (int c = 0; c < width; ++c) out(r, c) = Arith<T>::to_exact(w(r, c0 + c));
  return out;
}

template <class T>
void set_columns(Tensor<T>& w, int c0, const Tensor<Exact>& block) {
  for (int r = 0; r < block.rows; ++r)
    for (int c = 0; c < block.cols; ++c) w(r, c0 + c) = Arith<T>::from_exact(block(r, c));
}

template <class T>
Tensor<Exact> rows(const Tensor<T>& w, int r0, int height) {
  Tensor<Exact> out(height, w.cols);
  for (int r = 0; r < height; ++r)
    for (int c = 0; c < w.cols; ++c) out(r, c) = Arith<T>::to_exact(w(r0 + r, c));
  return out;
}

template <class T>
void set_rows(Tensor<T>& w, int r0, const Tensor<Exact>& block) {
  for (int r = 0; r < block.rows; ++r)
    for (int c = 0; c < block.cols; ++c) w(r0 + r, c) = Arith<T>::from_exact(block(r, c));
}

void check_head(const ModelConfig& c, int layer, int head, const Tensor<Exact>* m) {
  if (layer < 0 || layer >= c.layers || head < 0 || head >= c.heads)
    throw std::invalid_argument("transform: layer " + std::to_string(layer) + " head " + std::to_string(head) +
                                " does not exist");
  if (m && (m->rows != c.d_head() || m->cols != c.d_head()))
    throw std::invalid_argument("transform: the matrix must be d_head × d_head");
}

}  // namespace

template <class T>
Model<T> transform_qk(Model<T> model, int layer, int head, const Tensor<Exact>& m) {
  const ModelConfig& c = model.config;
  check_head(c, layer, head, &m);
  const int d = c.d_model, dh = c.d_head();
  Tensor<T>& w = model.weights.layers[layer].w_qkv;
  const Tensor<Exact> m_inv_t = transpose(exact_inverse(m));
  Tensor<Exact> q, k;
  gemm(q, columns(w, head * dh, dh), m);
  gemm(k, columns(w, d + head * dh, dh), m_inv_t);
  set_columns(w, head * dh, q);
  set_columns(w, d + head * dh, k);
  return model;
}

template <class T>
Model<T> transform_vo(Model<T> model, int layer, int head, const Tensor<Exact>& r) {
  const ModelConfig& c = model.config;
  check_head(c, layer, head, &r);
  const int d = c.d_model, dh = c.d_head();
  LayerWeights<T>& L = model.weights.layers[layer];
  Tensor<Exact> v, o;
  gemm(v, columns(L.w_qkv, 2 * d + head * dh, dh), r);
  gemm(o, transpose(r), rows(L.w_o, head * dh, dh));
  set_columns(L.w_qkv, 2 * d + head * dh, v);
  set_rows(L.w_o, head * dh, o);
  return model;
}

template <class T>
Model<T> permute_heads(Model<T> model, int layer, const Permutation& perm) {
  const ModelConfig& c = model.config;
  if (static_cast<int>(perm.size()) != c.heads || !is_permutation(perm))
    throw std::invalid_argument("permute_heads: not a permutation of the heads");
  check_head(c, layer, 0, nullptr);
  const int d = c.d_model, dh = c.d_head();
  LayerWeights<T>& L = model.weights.layers[layer];
  const LayerWeights<T> old = L;
  AttentionBias<T>& bias = model.unlearned_bias[layer];
  const AttentionBias<T> old_bias = bias;
  for (int h = 0; h < c.heads; ++h) {
    const int from = perm[h];
    for (int r = 0; r < d; ++r)
      for (int part = 0; part < 3; ++part)
        for (int k = 0; k < dh; ++k) L.w_qkv(r, part * d + h * dh + k) = old.w_qkv(r, part * d + from * dh + k);
    for (int k = 0; k < dh; ++k)
      for (int col = 0; col < d; ++col) L.w_o(h * dh + k, col) = old.w_o(from * dh + k, col);
    for (auto [to, src] :
         {std::pair{&bias.query, &old_bias.query}, std::pair{&bias.key, &old_bias.key}, std::pair{&bias.value, &old_bias.value}})
      if (src->size() > 0)
        for (int k = 0; k < dh; ++k) (*to)(h, k) = (*src)(from, k);
  }
  return model;
}

template <class T>
Model<T> add_unlearned_bias(Model<T> model, BiasSlot slot, int layer, int head, const std::vector<Exact>& values) {
  const ModelConfig& c = model.config;
  check_head(c, layer, head, nullptr);
  if (static_cast<int>(values.size()) != c.d_head()) throw std::invalid_argument("add_unlearned_bias: length != d_head");
  AttentionBias<T>& b = model.unlearned_bias[layer];
  Tensor<T>& target = slot == BiasSlot::query ? b.query : slot == BiasSlot::key ? b.key : b.value;
  if (target.size() == 0) target = Tensor<T>(c.heads, c.d_head());
  for (int k = 0; k < c.d_head(); ++k) target(head, k) = Arith<T>::from_exact(Arith<T>::to_exact(target(head, k)) + values[k]);
  return model;
}

#define SYMBREAK_INSTANTIATE_TRANSFORMS(T)                                     \
  template Model<T> transform_qk<T>(Model<T>, int, int, const Tensor<Exact>&); \
  template Model<T> transform_vo<T>(Model<T>, int, int, const Tensor<Exact>&); \
  template Model<T> permute_heads<T>(Model<T>, int, const Permutation&);       \
  template Model<T> add_unlearned_bias<T>(Model<T>, BiasSlot, int, int, const std::vector<Exact>&);

SYMBREAK_INSTANTIATE_TRANSFORMS(float)
SYMBREAK_INSTANTIATE_TRANSFORMS(double)
SYMBREAK_INSTANTIATE_TRANSFORMS(Exact)

}  // namespace symbreak::properties
