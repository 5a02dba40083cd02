// The parameter symmetries of attention as transformations of a model's weights. Products are formed
// exactly (in Exact) and rounded once to the model's arithmetic, so a float model receives the best
// float representation of the transformed weights.
#pragma once

#include "symbreak/model.hpp"
#include "symbreak/permutation.hpp"

namespace symbreak::properties {

// W_Q[h] → W_Q[h]·M and W_K[h] → W_K[h]·M^-ᵀ in one layer and head (M: dh × dh, invertible).
template <class T>
Model<T> transform_qk(Model<T> model, int layer, int head, const Tensor<Exact>& m);

// W_V[h] → W_V[h]·R and the head's rows of W_O → Rᵀ·(rows) (R: dh × dh, orthogonal).
template <class T>
Model<T> transform_vo(Model<T> model, int layer, int head, const Tensor<Exact>& r);

// Head h of the new model is head perm[h] of the old one: its W_Q, W_K, W_V columns, its rows of
// W_O and its unlearned biases move together.
template <class T>
Model<T> permute_heads(Model<T> model, int layer, const Permutation& perm);

enum class BiasSlot { query, key, value };
// Adds `bias` (length dh) to the unlearned bias of one slot, layer and head.
template <class T>
Model<T> add_unlearned_bias(Model<T> model, BiasSlot slot, int layer, int head, const std::vector<Exact>& bias);

}  // namespace symbreak::properties
