// RapidCheck generators for the symmetry properties: small, composable, and each shrinks toward the
// simplest case (fewest layers, heads and dimensions; shortest sequences; identity permutations).
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <ostream>
#include <vector>

#include "symbreak/config.hpp"
#include "symbreak/permutation.hpp"

namespace symbreak::gen {

// The architecture space to draw from. Every switch not pinned here is drawn.
struct ArchitectureSpace {
  int min_layers = 1, max_layers = 4, max_heads = 4, max_head_width = 8;
  int vocab_size = 8, context_length = 12;
  std::optional<PositionalEncoding> positional_encoding = PositionalEncoding::none;
  std::optional<MaskKind> mask = MaskKind::none;
};

// A random architecture within `space`. Shrinks toward 1 layer, 1 head, width 1, switches off.
inline rc::Gen<ModelConfig> architecture(ArchitectureSpace space) {
  return rc::gen::mapcat(
      rc::gen::tuple(rc::gen::inRange(space.min_layers, space.max_layers + 1), rc::gen::inRange(1, space.max_heads + 1),
                     rc::gen::inRange(1, space.max_head_width + 1), rc::gen::arbitrary<bool>(),
                     rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(), rc::gen::inRange(0, 3)),
      [space](const std::tuple<int, int, int, bool, bool, bool, int>& t) {
        const auto [layers, heads, head_width, layernorm, final_layernorm, mlp, activation] = t;
        return rc::gen::map(
            rc::gen::tuple(rc::gen::container<std::vector<bool>>(layers, rc::gen::arbitrary<bool>()),
                           rc::gen::container<std::vector<bool>>(layers, rc::gen::arbitrary<bool>()),
                           space.positional_encoding ? rc::gen::just(*space.positional_encoding)
                                                     : rc::gen::element(PositionalEncoding::none,
                                                                        PositionalEncoding::learned,
                                                                        PositionalEncoding::sinusoidal),
                           space.mask ? rc::gen::just(*space.mask)
                                      : rc::gen::element(MaskKind::none, MaskKind::causal)),
            [=](const std::tuple<std::vector<bool>, std::vector<bool>, PositionalEncoding, MaskKind>& s) {
              ModelConfig c;
              c.vocab_size = space.vocab_size;
              c.context_length = space.context_length;
              c.heads = heads;
              c.d_model = heads * head_width;
              c.layers = layers;
              c.d_ff = 2 * c.d_model;
              c.layernorm = layernorm;
              c.final_layernorm = final_layernorm;
              c.mlp = mlp;
              c.activation = static_cast<Activation>(activation);
              c.residual_attention = std::get<0>(s);
              c.residual_mlp = std::get<1>(s);
              c.positional_encoding = std::get<2>(s);
              c.mask = std::get<3>(s);
              c.init = InitScheme::scaled;
              return c;
            });
      });
}

// A sequence of n tokens; repeated tokens are common because the vocabulary is small.
inline rc::Gen<std::vector<int>> tokens(int n, int vocab_size) {
  return rc::gen::container<std::vector<int>>(n, rc::gen::inRange(0, vocab_size));
}

// A uniformly random permutation of indices [0, count) of a sequence of n, from its Lehmer code:
// code[i] picks among the count-i indices still unused. All-zero codes give the identity, so
// shrinking moves toward the identity.
inline rc::Gen<Permutation> permutation_of_prefix(int n, int count) {
  return rc::gen::map(
      rc::gen::container<std::vector<int>>(count, rc::gen::inRange(0, 1 << 30)), [n, count](std::vector<int> code) {
        Permutation sigma = identity_permutation(n);
        std::vector<int> unused(count);
        for (int i = 0; i < count; ++i) unused[i] = i;
        for (int i = 0; i < count; ++i) {
          const int pick = code[i] % static_cast<int>(unused.size());
          sigma[i] = unused[pick];
          unused.erase(unused.begin() + pick);
        }
        return sigma;
      });
}

}  // namespace symbreak::gen

namespace symbreak {
inline std::ostream& operator<<(std::ostream& os, const ModelConfig& c) { return os << config_to_json(c); }
}  // namespace symbreak
