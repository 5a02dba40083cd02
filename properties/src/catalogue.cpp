#include "symbreak/properties/catalogue.hpp"

#include <algorithm>
#include <stdexcept>

#include "symbreak/layers.hpp"
#include "symbreak/linalg.hpp"
#include "symbreak/properties/transforms.hpp"

namespace symbreak::properties {
namespace {

std::vector<int> all_rows(int n) {
  std::vector<int> r(n);
  for (int i = 0; i < n; ++i) r[i] = i;
  return r;
}

template <class T>
Tensor<T> select_rows(const Tensor<T>& t, const std::vector<int>& rows) {
  Tensor<T> out(static_cast<int>(rows.size()), t.cols);
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (int c = 0; c < t.cols; ++c) out(static_cast<int>(i), c) = t(rows[i], c);
  return out;
}

template <class T>
const Model<T>& model_of(const Subject<T>& f) {
  const Model<T>* m = f.model();
  if (!m) throw std::logic_error("this property needs the model's weights; the subject is an opaque function");
  return *m;
}

template <class T>
Comparison<T> unchanged_under(const Subject<T>& f, const Probe& p, const Model<T>& transformed,
                              const Model<T>* reference = nullptr) {
  const int n = static_cast<int>(p.tokens.size());
  const auto base = reference ? f.with_model(*reference) : nullptr;
  Comparison<T> c;
  c.expected = (base ? *base : f).forward(p.tokens);
  c.actual = f.with_model(transformed)->forward(p.tokens);
  c.rows = all_rows(n);
  return c;
}

int int_at(const std::vector<int>& v, std::size_t i) { return i < v.size() ? v[i] : 0; }

Tensor<Exact> skew_from(const std::vector<int>& ints, std::size_t offset, int dh) {
  Tensor<Exact> a(dh, dh);
  std::size_t k = offset;
  for (int i = 0; i < dh; ++i)
    for (int j = i + 1; j < dh; ++j) {
      a(i, j) = Exact(int_at(ints, k++)) / 2;
      a(j, i) = -a(i, j);
    }
  return a;
}

}  // namespace

Tensor<Exact> probe_rotation(const Probe& p, int dh) { return cayley(skew_from(p.matrix, 0, dh)); }

Tensor<Exact> probe_invertible(const Probe& p, int dh) {
  Tensor<Exact> lower = identity_matrix<Exact>(dh), upper(dh, dh);
  std::size_t k = 0;
  for (int i = 0; i < dh; ++i)
    for (int j = 0; j < i; ++j) lower(i, j) = Exact(int_at(p.matrix, k++));
  for (int i = 0; i < dh; ++i)
    for (int j = i; j < dh; ++j) {
      const int m = int_at(p.matrix, k++);
      upper(i, j) = i == j ? Exact(m >= 0 ? m + 1 : m) : Exact(m);  // a nonzero diagonal: invertible
    }
  Tensor<Exact> product;
  gemm(product, lower, upper);
  return product;
}

std::vector<Exact> probe_bias(const Probe& p, int dh) {
  std::vector<Exact> b(dh);
  bool any = false;
  for (int k = 0; k < dh; ++k) {
    b[k] = Exact(int_at(p.matrix, k)) / 4;
    any = any || b[k] != 0;
  }
  if (!any) b[0] = Exact(1);
  return b;
}

template <class T>
Comparison<T> equivariance(const Subject<T>& f, const Probe& p) {
  Comparison<T> c;
  c.expected = permute_rows(f.forward(p.tokens), p.sigma);
  c.actual = f.forward(apply_permutation(p.tokens, p.sigma));
  c.rows = all_rows(static_cast<int>(p.tokens.size()));
  return c;
}

template <class T>
Comparison<T> next_token_invariance(const Subject<T>& f, const Probe& p) {
  const int last = static_cast<int>(p.tokens.size()) - 1;
  Comparison<T> c;
  c.expected = select_rows(f.forward(p.tokens), {last});
  c.actual = select_rows(f.forward(apply_permutation(p.tokens, p.sigma)), {last});
  c.rows = {last};
  return c;
}

template <class T>
Comparison<T> causal_prefix_invariance(const Subject<T>& f, const Probe& p) {
  const int n = static_cast<int>(p.tokens.size());
  std::vector<int> rows;
  for (int j = p.position; j < n; ++j) rows.push_back(j);
  Comparison<T> c;
  c.expected = select_rows(f.forward(p.tokens), rows);
  c.actual = select_rows(f.forward(apply_permutation(p.tokens, p.sigma)), rows);
  c.rows = rows;
  return c;
}

template <class T>
Comparison<T> prefix_independence(const Subject<T>& f, const Probe& p) {
  std::vector<int> changed = p.tokens;
  changed[p.position] = p.replacement;
  const std::vector<int> rows = all_rows(p.position);
  Comparison<T> c;
  c.expected = select_rows(f.forward(p.tokens), rows);
  c.actual = select_rows(f.forward(changed), rows);
  c.rows = rows;
  return c;
}

template <class T>
Comparison<T> rotate_query_key(const Subject<T>& f, const Probe& p) {
  const Model<T>& m = model_of(f);
  return unchanged_under(f, p, transform_qk(m, p.layer, p.head, probe_rotation(p, m.config.d_head())));
}

template <class T>
Comparison<T> transform_query_key(const Subject<T>& f, const Probe& p) {
  const Model<T>& m = model_of(f);
  return unchanged_under(f, p, transform_qk(m, p.layer, p.head, probe_invertible(p, m.config.d_head())));
}

template <class T>
Comparison<T> rotate_value_output(const Subject<T>& f, const Probe& p) {
  const Model<T>& m = model_of(f);
  return unchanged_under(f, p, transform_vo(m, p.layer, p.head, probe_rotation(p, m.config.d_head())));
}

template <class T>
Comparison<T> key_bias_cancels(const Subject<T>& f, const Probe& p) {
  const Model<T>& m = model_of(f);
  return unchanged_under(f, p, add_unlearned_bias(m, BiasSlot::key, p.layer, p.head, probe_bias(p, m.config.d_head())));
}

// The probe's integers: d_head bias entries, then the skew entries of the rotation.
template <class T>
Comparison<T> bias_breaks_rotation(const Subject<T>& f, const Probe& p, BiasSlot slot) {
  const Model<T>& m = model_of(f);
  const int dh = m.config.d_head();
  const Model<T> biased = add_unlearned_bias(m, slot, p.layer, p.head, probe_bias(p, dh));
  const Tensor<Exact> r = cayley(skew_from(p.matrix, dh, dh));
  const Model<T> rotated =
      slot == BiasSlot::query ? transform_qk(biased, p.layer, p.head, r) : transform_vo(biased, p.layer, p.head, r);
  return unchanged_under(f, p, rotated, &biased);
}

template <class T>
Comparison<T> query_bias_breaks_rotation(const Subject<T>& f, const Probe& p) {
  return bias_breaks_rotation(f, p, BiasSlot::query);
}

template <class T>
Comparison<T> value_bias_breaks_rotation(const Subject<T>& f, const Probe& p) {
  return bias_breaks_rotation(f, p, BiasSlot::value);
}

template <class T>
Comparison<T> head_permutation_invariance(const Subject<T>& f, const Probe& p) {
  return unchanged_under(f, p, permute_heads(model_of(f), p.layer, p.sigma));
}

template <class T>
Comparison<T> batch_independence(const Subject<T>& f, const Probe& p) {
  const int n = static_cast<int>(p.tokens.size());
  std::vector<int> both = p.tokens;
  both.insert(both.end(), p.other_tokens.begin(), p.other_tokens.end());
  const Tensor<T> x = f.forward(p.tokens), y = f.forward(p.other_tokens);
  Comparison<T> c;
  c.expected = Tensor<T>(2 * n, x.cols);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < x.cols; ++k) {
      c.expected(i, k) = x(i, k);
      c.expected(n + i, k) = y(i, k);
    }
  c.actual = f.forward(both, 2, n);
  c.rows = all_rows(2 * n);
  c.row_label = "batch row";
  return c;
}

// ---- The catalogue ---------------------------------------------------------------------------

bool Property::applies_to(const Declaration& d) const {
  return std::find(architectures.masks.begin(), architectures.masks.end(), d.mask) != architectures.masks.end() &&
         std::find(architectures.encodings.begin(), architectures.encodings.end(), d.positional_encoding) !=
             architectures.encodings.end() &&
         d.layers >= architectures.min_layers && d.layers <= architectures.max_layers &&
         !(architectures.causal_single_layer && d.mask == MaskKind::causal && d.layers != 1);
}

const std::vector<Property>& catalogue() {
  using PE = PositionalEncoding;
  const ArchitectureClass any;
  ArchitectureClass unmasked_nope;
  unmasked_nope.masks = {MaskKind::none};
  unmasked_nope.encodings = {PE::none};
  ArchitectureClass causal_depth1;
  causal_depth1.masks = {MaskKind::causal};
  causal_depth1.encodings = {PE::none};
  causal_depth1.max_layers = 1;
  ArchitectureClass causal_deep = causal_depth1;
  causal_deep.min_layers = 2;
  causal_deep.max_layers = 4;
  causal_deep.min_length = 3;
  ArchitectureClass positional;
  positional.encodings = {PE::learned, PE::sinusoidal};
  positional.min_length = 3;
  positional.causal_single_layer = true;
  ArchitectureClass causal_any;
  causal_any.masks = {MaskKind::causal};
  causal_any.min_length = 2;

#define SYMBREAK_COMPARE(fn) \
  Comparisons { &fn<float>, &fn<double>, &fn<Exact> }
  using E = Expectation;
  using K = ProbeKind;
  static const std::vector<Property> properties = {
      {.name = "EQUIV",
       .statement = "no mask, no PE: f(σx) = σ·f(x) at every position, for every σ ∈ S_n",
       .expectation = E::holds,
       .probe = K::permute_all,
       .architectures = unmasked_nope,
       .compare = SYMBREAK_COMPARE(equivariance)},
      {.name = "NEXT",
       .statement = "no mask, no PE: f(σx)_n = f(x)_n for every permutation σ of tokens 1..n-1",
       .expectation = E::holds,
       .probe = K::permute_prefix,
       .architectures = unmasked_nope,
       .compare = SYMBREAK_COMPARE(next_token_invariance)},
      {.name = "CAUSAL-DEPTH1",
       .statement = "causal mask, no PE, one layer: f(σx)_j = f(x)_j for j ≥ i, σ permuting tokens 1..i-1",
       .expectation = E::holds,
       .probe = K::permute_causal,
       .architectures = causal_depth1,
       .compare = SYMBREAK_COMPARE(causal_prefix_invariance)},
      {.name = "CAUSAL-BREAKS",
       .statement = "causal mask, no PE, depth ≥ 2: some σ, x give f(σx)_n ≠ f(x)_n",
       .expectation = E::broken,
       .probe = K::permute_prefix,
       .architectures = causal_deep,
       .compare = SYMBREAK_COMPARE(next_token_invariance)},
      {.name = "PE-BREAKS",
       .statement = "learned or sinusoidal PE (no mask, or causal at depth 1): some σ, x give f(σx)_n ≠ f(x)_n",
       .expectation = E::broken,
       .probe = K::permute_prefix,
       .architectures = positional,
       .compare = SYMBREAK_COMPARE(next_token_invariance)},
      {.name = "PREFIX",
       .statement = "causal mask: changing token j leaves f(x)_i unchanged for every i < j",
       .expectation = E::holds,
       .probe = K::change_token,
       .architectures = causal_any,
       .compare = SYMBREAK_COMPARE(prefix_independence)},
      {.name = "ROT-QK",
       .statement = "W_Q[h]→W_Q[h]·R, W_K[h]→W_K[h]·R, R orthogonal: logits unchanged",
       .expectation = E::holds,
       .probe = K::rotation,
       .architectures = any,
       .weight_level = true,
       .compare = SYMBREAK_COMPARE(rotate_query_key)},
      {.name = "ROT-QK-GL",
       .statement = "W_Q[h]→W_Q[h]·M, W_K[h]→W_K[h]·M^-T, M invertible: logits unchanged",
       .expectation = E::holds,
       .probe = K::invertible,
       .architectures = any,
       .weight_level = true,
       .compare = SYMBREAK_COMPARE(transform_query_key)},
      {.name = "ROT-VO",
       .statement = "W_V[h]→W_V[h]·R, W_O[h]→Rᵀ·W_O[h], R orthogonal: logits unchanged",
       .expectation = E::holds,
       .probe = K::rotation,
       .architectures = any,
       .weight_level = true,
       .compare = SYMBREAK_COMPARE(rotate_value_output)},
      {.name = "BIAS-KEY",
       .statement = "one vector added to every key of a head cancels in softmax: logits unchanged",
       .expectation = E::holds,
       .probe = K::bias,
       .architectures = any,
       .weight_level = true,
       .compare = SYMBREAK_COMPARE(key_bias_cancels)},
      {.name = "BIAS-QUERY-BREAKS",
       .statement = "a nonzero query bias breaks ROT-QK: some R, x change the logits",
       .expectation = E::broken,
       .probe = K::bias_rotation,
       .architectures = any,
       .weight_level = true,
       .compare = SYMBREAK_COMPARE(query_bias_breaks_rotation)},
      {.name = "BIAS-VALUE-BREAKS",
       .statement = "a nonzero value bias breaks ROT-VO: some R, x change the logits",
       .expectation = E::broken,
       .probe = K::bias_rotation,
       .architectures = any,
       .weight_level = true,
       .compare = SYMBREAK_COMPARE(value_bias_breaks_rotation)},
      {.name = "HEADS",
       .statement = "permuting heads with their W_O blocks leaves the logits unchanged",
       .expectation = E::holds,
       .probe = K::heads,
       .architectures = any,
       .weight_level = true,
       .compare = SYMBREAK_COMPARE(head_permutation_invariance)},
      {.name = "BATCH",
       .statement = "batch elements are independent: f([x; y]) = [f(x); f(y)]",
       .expectation = E::holds,
       .probe = K::batch,
       .architectures = any,
       .compare = SYMBREAK_COMPARE(batch_independence)},
  };
#undef SYMBREAK_COMPARE
  return properties;
}

const Property& find_property(std::string_view name) {
  std::string names;
  for (const Property& p : catalogue()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  }
  throw std::invalid_argument("unknown property \"" + std::string(name) + "\" (allowed: " + names + ")");
}

template <class T>
Comparison<T> evaluate(const Property& property, const Subject<T>& f, const Probe& p) {
  if constexpr (std::is_same_v<T, float>) return property.compare.f32(f, p);
  else if constexpr (std::is_same_v<T, double>) return property.compare.f64(f, p);
  else return property.compare.exact(f, p);
}

#define SYMBREAK_INSTANTIATE_CATALOGUE(T)                                                 \
  template Comparison<T> equivariance<T>(const Subject<T>&, const Probe&);                \
  template Comparison<T> next_token_invariance<T>(const Subject<T>&, const Probe&);       \
  template Comparison<T> causal_prefix_invariance<T>(const Subject<T>&, const Probe&);    \
  template Comparison<T> prefix_independence<T>(const Subject<T>&, const Probe&);         \
  template Comparison<T> rotate_query_key<T>(const Subject<T>&, const Probe&);            \
  template Comparison<T> transform_query_key<T>(const Subject<T>&, const Probe&);         \
  template Comparison<T> rotate_value_output<T>(const Subject<T>&, const Probe&);         \
  template Comparison<T> key_bias_cancels<T>(const Subject<T>&, const Probe&);            \
  template Comparison<T> query_bias_breaks_rotation<T>(const Subject<T>&, const Probe&);  \
  template Comparison<T> value_bias_breaks_rotation<T>(const Subject<T>&, const Probe&);  \
  template Comparison<T> head_permutation_invariance<T>(const Subject<T>&, const Probe&); \
  template Comparison<T> batch_independence<T>(const Subject<T>&, const Probe&);          \
  template Comparison<T> evaluate<T>(const Property&, const Subject<T>&, const Probe&);

SYMBREAK_INSTANTIATE_CATALOGUE(float)
SYMBREAK_INSTANTIATE_CATALOGUE(double)
SYMBREAK_INSTANTIATE_CATALOGUE(Exact)

}  // namespace symbreak::properties
