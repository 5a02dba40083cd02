// RapidCheck generators for the property suites: small, composable, and each shrinks toward the
// simplest case — fewest layers, heads and dimensions, shortest sequence, ternary weights, identity
// permutations and matrices.
#pragma once

#include <rapidcheck.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <vector>

#include "symbreak/properties/case.hpp"
#include "symbreak/properties/catalogue.hpp"

namespace symbreak::properties::gen {

// An integer in [lo, lo + (hi - lo)·size/100], shrinking toward lo.
inline rc::Gen<int> scaled(int lo, int hi) {
  return rc::gen::withSize([lo, hi](int size) {
    const int top = lo + static_cast<int>((static_cast<long>(hi - lo) * std::min(size, 100)) / 100);
    return rc::gen::inRange(lo, top + 1);
  });
}

// A permutation of indices [0, count) of a sequence of n (the rest fixed): an adjacent transposition,
// a cycle, or a uniform permutation (Lehmer code). Shrinks toward the identity.
inline rc::Gen<Permutation> permutation(int n, int count) {
  if (count < 2) return rc::gen::just(identity_permutation(n));
  const auto adjacent = rc::gen::map(rc::gen::inRange(0, count - 1), [n](int i) {
    Permutation s = identity_permutation(n);
    std::swap(s[i], s[i + 1]);
    return s;
  });
  const auto cycle = rc::gen::map(rc::gen::inRange(1, count), [n, count](int k) {
    Permutation s = identity_permutation(n);
    for (int i = 0; i < count; ++i) s[i] = (i + k) % count;
    return s;
  });
  const auto uniform =
      rc::gen::map(rc::gen::container<std::vector<int>>(count, rc::gen::inRange(0, 1 << 20)), [n, count](std::vector<int> code) {
        Permutation s = identity_permutation(n);
        std::vector<int> unused(count);
        for (int i = 0; i < count; ++i) unused[i] = i;
        for (int i = 0; i < count; ++i) {
          const int pick = code[i] % static_cast<int>(unused.size());
          s[i] = unused[pick];
          unused.erase(unused.begin() + pick);
        }
        return s;
      });
  return rc::gen::oneOf(adjacent, cycle, uniform);
}

// n tokens: uniform over the vocabulary, or over two tokens so that repeats are common.
inline rc::Gen<std::vector<int>> tokens(int n, int vocab_size) {
  return rc::gen::oneOf(rc::gen::container<std::vector<int>>(n, rc::gen::inRange(0, vocab_size)),
                        rc::gen::container<std::vector<int>>(n, rc::gen::inRange(0, std::min(2, vocab_size))));
}

inline rc::Gen<std::vector<int>> small_ints(int count, int magnitude) {
  return rc::gen::container<std::vector<int>>(count, rc::gen::inRange(-magnitude, magnitude + 1));
}

// An architecture of the class, within the limits. Shrinks toward 1 layer, 1 head, width 1, and
// no LayerNorm, MLP or residuals.
inline rc::Gen<ModelConfig> architecture(const ArchitectureClass& cls, const SpaceLimits& lim) {
  const int max_layers = std::min(cls.max_layers, lim.max_layers);
  return rc::gen::mapcat(
      rc::gen::tuple(scaled(cls.min_layers, std::max(cls.min_layers, max_layers)), scaled(1, lim.max_heads),
                     scaled(1, lim.max_head_width), rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(),
                     rc::gen::arbitrary<bool>(), rc::gen::element(Activation::relu, Activation::gelu, Activation::gelu_tanh),
                     rc::gen::elementOf(cls.masks), rc::gen::elementOf(cls.encodings)),
      [lim, pinned = cls.residual, single = cls.causal_single_layer](
          const std::tuple<int, int, int, bool, bool, bool, Activation, MaskKind, PositionalEncoding>& t) {
        // Every switch shrinks toward false, i.e. toward the component being absent.
        const auto [drawn_layers, heads, head_width, layernorm, mlp, final_layernorm, activation, mask, pe] = t;
        const int layers = single && mask == MaskKind::causal ? 1 : drawn_layers;
        return rc::gen::map(rc::gen::tuple(rc::gen::container<std::vector<bool>>(layers, rc::gen::arbitrary<bool>()),
                                           rc::gen::container<std::vector<bool>>(layers, rc::gen::arbitrary<bool>())),
                            [=](const std::tuple<std::vector<bool>, std::vector<bool>>& residual) {
                              ModelConfig c;
                              c.vocab_size = lim.vocab_size;
                              c.context_length = lim.max_length;
                              c.heads = heads;
                              c.d_model = heads * head_width;
                              c.layers = layers;
                              c.d_ff = 2 * c.d_model;
                              c.layernorm = layernorm;
                              c.final_layernorm = final_layernorm;
                              c.mlp = mlp;
                              c.activation = activation;
                              c.residual_attention.clear();
                              c.residual_mlp.clear();
                              for (bool on : std::get<0>(residual)) c.residual_attention.push_back(pinned ? *pinned : on);
                              for (bool on : std::get<1>(residual)) c.residual_mlp.push_back(pinned ? *pinned : on);
                              c.mask = mask;
                              c.positional_encoding = pe;
                              c.init = InitScheme::scaled;
                              return c;
                            });
      });
}

inline rc::Gen<ModelSpec> model_spec(const ArchitectureClass& cls, const SpaceLimits& lim) {
  return rc::gen::map(
      rc::gen::tuple(architecture(cls, lim), rc::gen::inRange<std::uint32_t>(0, 1u << 31),
                     rc::gen::element(WeightStyle::ternary, WeightStyle::gaussian, WeightStyle::extreme, WeightStyle::near_tie)),
      [](const std::tuple<ModelConfig, std::uint32_t, WeightStyle>& t) {
        return ModelSpec{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
      });
}

// A probe of the property's kind for a model.
inline rc::Gen<Probe> probe(const Property& property, const ModelSpec& spec, const SpaceLimits& lim) {
  const ModelConfig& c = spec.config;
  const int dh = c.d_head(), skew = dh * (dh - 1) / 2;
  const ProbeKind kind = property.probe;
  const int min_length = std::max(1, property.architectures.min_length);
  const int longest = std::min(lim.max_length, c.context_length);
  const int max_length = kind == ProbeKind::batch ? std::max(1, longest / 2) : longest;
  return rc::gen::mapcat(
      rc::gen::tuple(scaled(min_length, std::max(min_length, max_length)), rc::gen::inRange(0, c.layers),
                     rc::gen::inRange(0, c.heads)),
      [=](const std::tuple<int, int, int>& t) {
        const auto [n, layer, head] = t;
        const auto make = [=](std::vector<int> x) {
          Probe p;
          p.tokens = std::move(x);
          p.layer = layer;
          p.head = head;
          return p;
        };
        const auto base = rc::gen::map(tokens(n, c.vocab_size), make);
        switch (kind) {
          case ProbeKind::permute_all:
          case ProbeKind::permute_prefix:
            return rc::gen::map(rc::gen::tuple(base, permutation(n, kind == ProbeKind::permute_all ? n : n - 1)),
                                [](std::tuple<Probe, Permutation> v) {
                                  std::get<0>(v).sigma = std::get<1>(v);
                                  return std::get<0>(v);
                                });
          case ProbeKind::permute_causal:
            return rc::gen::mapcat(rc::gen::inRange(std::min(2, n), n + 1), [=](int i) {
              return rc::gen::map(rc::gen::tuple(base, permutation(n, i)), [i](std::tuple<Probe, Permutation> v) {
                std::get<0>(v).sigma = std::get<1>(v);
                std::get<0>(v).position = i;
                return std::get<0>(v);
              });
            });
          case ProbeKind::change_token:
            return rc::gen::map(rc::gen::tuple(base, rc::gen::inRange(std::min(1, n - 1), n), rc::gen::inRange(0, c.vocab_size)),
                                [](std::tuple<Probe, int, int> v) {
                                  std::get<0>(v).position = std::get<1>(v);
                                  std::get<0>(v).replacement = std::get<2>(v);
                                  return std::get<0>(v);
                                });
          case ProbeKind::rotation:
          case ProbeKind::invertible:
          case ProbeKind::bias:
          case ProbeKind::bias_rotation: {
            const auto ints = kind == ProbeKind::rotation     ? small_ints(skew, 3)
                              : kind == ProbeKind::invertible ? small_ints(dh * dh, 2)
                              : kind == ProbeKind::bias       ? small_ints(dh, 4)
                                                              : small_ints(dh + skew, 3);
            return rc::gen::map(rc::gen::tuple(base, ints), [](std::tuple<Probe, std::vector<int>> v) {
              std::get<0>(v).matrix = std::get<1>(v);
              return std::get<0>(v);
            });
          }
          case ProbeKind::heads:
            return rc::gen::map(rc::gen::tuple(base, permutation(c.heads, c.heads)), [](std::tuple<Probe, Permutation> v) {
              std::get<0>(v).sigma = std::get<1>(v);
              return std::get<0>(v);
            });
          case ProbeKind::batch:
            return rc::gen::map(rc::gen::tuple(base, tokens(n, c.vocab_size)), [](std::tuple<Probe, std::vector<int>> v) {
              std::get<0>(v).other_tokens = std::get<1>(v);
              return std::get<0>(v);
            });
        }
        return base;
      });
}

// A model of the property's class and `probes` probes on it. Shrinking drops probes too, so a
// counterexample ends with the one probe that fails.
// The property is captured by value: RapidCheck re-runs these functions while shrinking, after the
// caller's frame may be gone.
inline rc::Gen<Case> case_for(const Property& property, const SpaceLimits& lim, int probes) {
  return rc::gen::mapcat(model_spec(property.architectures, lim), [property, lim, probes](const ModelSpec& spec) {
    return rc::gen::map(rc::gen::container<std::vector<Probe>>(probes, probe(property, spec, lim)),
                        [spec](std::vector<Probe> ps) {
                          return Case{spec, std::move(ps)};
                        });
  });
}

}  // namespace symbreak::properties::gen

namespace symbreak::properties {
inline void showValue(const Case& c, std::ostream& os) { os << case_to_json(c); }
}  // namespace symbreak::properties
