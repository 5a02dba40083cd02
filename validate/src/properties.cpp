// The op-level properties: the transformations they apply, and the catalogue (one row per property,
// with the check that decides it: checks_forward.cpp, checks_backward.cpp).
#include "symbreak/validate/properties.hpp"

#include <algorithm>
#include <vector>

#include "checks.hpp"

namespace symbreak::validate {

std::string Element::text() const {
  if (batch < 0) return "-";
  return (tensor.empty() ? "" : tensor + " ") + "batch " + std::to_string(batch) + ", head " + std::to_string(head) + ", row " +
         std::to_string(row) + ", column " + std::to_string(col);
}

// ---- Transformations ---------------------------------------------------------------------------

namespace {

// Copies rows of a [B][H][n][d] array, row r of the result taken from row source(b, h, r).
template <class Source>
std::vector<float> remap(const std::vector<float>& x, int batch, int heads, int n, int d, Source source) {
  std::vector<float> out(x.size());
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < n; ++r) {
        const auto [sb, sh, sr] = source(b, h, r);
        std::copy_n(x.begin() + ((static_cast<std::ptrdiff_t>(sb) * heads + sh) * n + sr) * d, d,
                    out.begin() + ((static_cast<std::ptrdiff_t>(b) * heads + h) * n + r) * d);
      }
  return out;
}

}  // namespace

AttentionOp permute_keys(const AttentionOp& op, const std::vector<int>& perm) {
  AttentionOp out = op;
  const auto src = [&](int b, int h, int r) { return std::tuple{b, h, perm[r]}; };
  out.k = remap(op.k, op.batch, op.heads, op.n_k, op.d_head, src);
  out.v = remap(op.v, op.batch, op.heads, op.n_k, op.d_v, src);
  if (!op.mask.empty())
    for (int i = 0; i < op.n_q; ++i)
      for (int j = 0; j < op.n_k; ++j)
        out.mask[static_cast<std::size_t>(i) * op.n_k + j] = op.mask[static_cast<std::size_t>(i) * op.n_k + perm[j]];
  return out;
}

AttentionOp permute_queries(const AttentionOp& op, const std::vector<int>& perm) {
  AttentionOp out = op;
  const auto src = [&](int b, int h, int r) { return std::tuple{b, h, perm[r]}; };
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, src);
  if (op.backward()) out.d_out = remap(op.d_out, op.batch, op.heads, op.n_q, op.d_v, src);
  if (!op.mask.empty())
    for (int i = 0; i < op.n_q; ++i)
      std::copy_n(op.mask.begin() + static_cast<std::ptrdiff_t>(perm[i]) * op.n_k, op.n_k,
                  out.mask.begin() + static_cast<std::ptrdiff_t>(i) * op.n_k);
  return out;
}

AttentionOp permute_heads(const AttentionOp& op, const std::vector<int>& perm) {
  AttentionOp out = op;
  const auto src = [&](int b, int h, int r) { return std::tuple{b, perm[h], r}; };
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, src);
  out.k = remap(op.k, op.batch, op.heads, op.n_k, op.d_head, src);
  out.v = remap(op.v, op.batch, op.heads, op.n_k, op.d_v, src);
  return out;
}

AttentionOp permute_batch(const AttentionOp& op, const std::vector<int>& perm) {
  AttentionOp out = op;
  const auto src = [&](int b, int h, int r) { return std::tuple{perm[b], h, r}; };
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, src);
  out.k = remap(op.k, op.batch, op.heads, op.n_k, op.d_head, src);
  out.v = remap(op.v, op.batch, op.heads, op.n_k, op.d_v, src);
  return out;
}

AttentionOp permute_grouped_heads(const AttentionOp& op, const std::vector<int>& perm) {
  const int kvh = op.kv_heads(), group = op.heads / kvh;
  if (perm.size() != static_cast<std::size_t>(op.heads))
    throw std::logic_error("permute_grouped_heads: a permutation of " + std::to_string(perm.size()) + " heads for " +
                           std::to_string(op.heads));
  std::vector<int> kv_perm(static_cast<std::size_t>(kvh));
  for (int h = 0; h < op.heads; ++h) {
    const int g = h / group, from = perm[static_cast<std::size_t>(h)];
    if (h % group == 0) kv_perm[static_cast<std::size_t>(g)] = from / group;
    if (from / group != kv_perm[static_cast<std::size_t>(g)])
      throw std::logic_error("permute_grouped_heads: head " + std::to_string(from) + " leaves its group");
  }
  AttentionOp out = op;
  const auto q_src = [&](int b, int h, int r) { return std::tuple{b, perm[static_cast<std::size_t>(h)], r}; };
  const auto kv_src = [&](int b, int g, int r) { return std::tuple{b, kv_perm[static_cast<std::size_t>(g)], r}; };
  out.q = remap(op.q, op.batch, op.heads, op.n_q, op.d_head, q_src);
  if (op.backward()) out.d_out = remap(op.d_out, op.batch, op.heads, op.n_q, op.d_v, q_src);
  out.k = remap(op.k, op.batch, kvh, op.n_k, op.d_head, kv_src);
  out.v = remap(op.v, op.batch, kvh, op.n_k, op.d_v, kv_src);
  if (op.mask_per_head) {  // [batch][heads][n_q][n_k]: each head's mask travels with its head
    const std::size_t per_head = static_cast<std::size_t>(op.n_q) * op.n_k;
    for (int b = 0; b < op.batch; ++b)
      for (int h = 0; h < op.heads; ++h)
        std::copy_n(
            op.mask.begin() + static_cast<std::ptrdiff_t>(
                                  (static_cast<std::size_t>(b) * op.heads + perm[static_cast<std::size_t>(h)]) * per_head),
            per_head, out.mask.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(b) * op.heads + h) * per_head));
  }
  return out;
}

namespace {

using namespace checks;
using M = MaskMode;
const std::vector<M> kAll = {M::none, M::causal, M::explicit_mask, M::causal_and_explicit};

}  // namespace

const std::vector<OpProperty>& op_catalogue() {
  static const std::vector<OpProperty> properties = {
      {"REFERENCE", "max|O − E| ≤ c·err_ref + atol against the exact reference E", Pass::forward, kAll, "", false, false, false,
       check_reference},
      {"KV-PERM",
       "permuting the rows of K and V (and the mask's columns) together leaves O unchanged",
       Pass::forward,
       {M::none, M::explicit_mask},
       "a mode without the causal mask (the causal mask ties keys to positions)",
       false,
       false,
       false,
       check_kv_perm},
      {"Q-PERM",
       "permuting the rows of Q (and of the mask) permutes the rows of O",
       Pass::forward,
       {M::none, M::explicit_mask},
       "a mode without the causal mask (the causal mask ties queries to positions)",
       false,
       false,
       false,
       check_q_perm},
      {"CAUSAL",
       "causal: changing K, V rows j ≥ t leaves the outputs of queries i < t unchanged",
       Pass::forward,
       {M::causal, M::causal_and_explicit},
       "the causal mask",
       false,
       true,
       false,
       check_causal},
      {"MASK",
       "explicit mask: changing a K, V row leaves the outputs of the queries that may not attend it unchanged",
       Pass::forward,
       {M::explicit_mask, M::causal_and_explicit},
       "an explicit mask",
       false,
       false,
       false,
       check_mask},
      {"CONVEX", "O lies in the hull of the visible V rows; V + 1·δᵀ shifts O by δ", Pass::forward, kAll, "", false, false, false,
       check_convex},
      {"HEADS", "permuting heads permutes the outputs", Pass::forward, kAll, "", false, false, false, check_heads},
      {"BATCH", "permuting batch items permutes the outputs", Pass::forward, kAll, "", false, false, false, check_batch},
      {"ROBUST",
       "REFERENCE on the edge cases in every supported mask mode first (logits ±1e6, all scores below −10000, tiny values, "
       "n_k = 1, odd and long sizes, extreme scales), then on generated extreme cases",
       Pass::forward, kAll, "", true, false, false, check_reference},
      {"DETERMINISM",
       "the same input run 3 times gives the same bits (a failure when the kernel declares deterministic, else a warning)",
       Pass::forward, kAll, "", false, false, false, check_determinism},
      {"MASKED-INDEPENDENCE",
       "keys a query cannot see, poisoned with ±1e30, ±3e38 or NaN in K or V, leave its output exactly unchanged",
       Pass::forward,
       {M::causal, M::explicit_mask, M::causal_and_explicit},
       "a causal or explicit mask",
       false,
       false,
       true,
       check_masked_independence},
      {"BWD-REFERENCE", "each of dQ, dK, dV within c·err_ref + atol of the exact gradient", Pass::backward, kAll, "", false,
       false, false, check_bwd_reference},
      {"BWD-CAUSAL",
       "causal: dK_j and dV_j get nothing from the queries i < j (changing those queries leaves them unchanged)",
       Pass::backward,
       {M::causal, M::causal_and_explicit},
       "the causal mask",
       false,
       true,
       false,
       check_bwd_causal},
      {"BWD-MASK",
       "explicit mask: a key's dK, dV get nothing from the queries that may not attend it; a key no query may attend "
       "gets zero gradient",
       Pass::backward,
       {M::explicit_mask, M::causal_and_explicit},
       "an explicit mask",
       false,
       false,
       true,
       check_bwd_mask},
      {"BWD-ROWSUM", "each softmax row's gradient sums to zero: shifting every key by one vector leaves dQ, dK, dV unchanged",
       Pass::backward, kAll, "", false, false, false, check_bwd_rowsum},
      {"BWD-ROBUST", "BWD-REFERENCE on the edge cases in every supported mask mode first, then on generated extreme cases",
       Pass::backward, kAll, "", true, false, false, check_bwd_reference},
      {"BWD-DETERMINISM",
       "the same backward input run 3 times gives the same dQ, dK, dV bits (a failure when the kernel declares deterministic)",
       Pass::backward, kAll, "", false, false, false, check_bwd_determinism},
      // ---- Version 2: each about one feature, run when the kernel declares it; the edge cases first.
      {"ALIGNMENT",
       "causal (and window) with n_q <, = and > n_k in the declared alignment, a decode step (n_q = 1, n_k = 4096), "
       "against the exact reference",
       Pass::forward,
       {M::causal, M::causal_and_explicit},
       "causal=top-left or causal=bottom-right",
       true,
       false,
       false,
       check_reference,
       "align"},
      {"GQA-MAPPING",
       "grouped-query heads (query head h reads KV head h / (heads / heads_kv)), MQA included, distinct K and V per KV "
       "head, against the exact reference",
       Pass::forward, kAll, "gqa", true, false, false, check_reference, "gqa"},
      {"GQA-PERM",
       "shuffling the KV heads (each carrying its group of query heads) and the query heads within each group shuffles "
       "the output heads the same way",
       Pass::forward, kAll, "gqa", true, false, false, check_gqa_perm, "gqa-perm"},
      {"SOFTCAP",
       "logit soft-capping c·tanh(s/c) before the mask: c from 0.5 to 50, logits far beyond the cap (saturated) and "
       "within it, sizes 1, 2, 5, 15-17, 33, a decode row against 1024 keys, masked keys, against the exact reference",
       Pass::forward, kAll, "softcap", true, false, false, check_reference, "softcap"},
      {"BIAS",
       "an additive float bias per head after the softcap: N(0, 1), ±1e4, −inf entries (hidden keys), rows of −FLT_MAX, "
       "−FLT_MAX on the visible keys beside masked ones with tied scores, sizes 1, 2, 5, 15-17, 33, a decode row, "
       "against the exact reference",
       Pass::forward, kAll, "bias", true, false, false, check_reference, "bias"},
      {"ALIBI",
       "ALiBi: score(i, j) − slope_h·|i + offset − j| with the paper's slopes for 1-8 heads and steep ones, causal and "
       "not, n_q ≠ n_k in the declared alignment, a decode row, grouped heads, against the exact reference",
       Pass::forward, kAll, "alibi", true, false, false, check_reference, "alibi"},
      {"WINDOW-BOUNDARY",
       "sliding windows: left = n_k − 1 with causal, left = right = 0, window ∩ causal, widths around the tile size, "
       "against the exact reference",
       Pass::forward, kAll, "window", true, false, false, check_reference, "window"},
      {"PADDING",
       "per-batch key lengths (1, n_k, tile ± 1) against the exact reference; keys past a length poisoned with NaN or "
       "±3e38 leave the output bit-identical",
       Pass::forward, kAll, "padding", true, false, false, check_padding, "padding"},
      {"EMPTY-ROWS",
       "query rows with no visible key (all-False mask rows, bottom-right rows above the keys, windows past the length) "
       "are zero; fully masked tiles inside live rows change nothing",
       Pass::forward, kAll, "empty-rows=zero", true, false, false, check_reference, "empty-rows"},
      {"BWD-ALIGNMENT",
       "BWD-REFERENCE on ALIGNMENT's cases",
       Pass::backward,
       {M::causal, M::causal_and_explicit},
       "causal=top-left or causal=bottom-right",
       true,
       false,
       false,
       check_bwd_reference,
       "align"},
      {"BWD-GQA-MAPPING", "BWD-REFERENCE on GQA-MAPPING's cases: dK and dV sum over the query heads of a group", Pass::backward,
       kAll, "gqa", true, false, false, check_bwd_reference, "gqa"},
      {"BWD-GQA-PERM", "GQA-PERM's shuffle permutes dQ like Q and dK, dV like K, V", Pass::backward, kAll, "gqa", true, false,
       false, check_bwd_gqa_perm, "gqa-perm"},
      {"BWD-SOFTCAP", "BWD-REFERENCE on SOFTCAP's cases: the chain rule through c·tanh(s/c) multiplies dS by 1 − tanh²",
       Pass::backward, kAll, "softcap", true, false, false, check_bwd_reference, "softcap"},
      {"BWD-BIAS", "BWD-REFERENCE on BIAS' cases: the bias shapes P, and dS is the softmax's alone", Pass::backward, kAll, "bias",
       true, false, false, check_bwd_reference, "bias"},
      {"BWD-ALIBI", "BWD-REFERENCE on ALIBI's cases", Pass::backward, kAll, "alibi", true, false, false, check_bwd_reference,
       "alibi"},
      {"BWD-WINDOW-BOUNDARY", "BWD-REFERENCE on WINDOW-BOUNDARY's cases", Pass::backward, kAll, "window", true, false, false,
       check_bwd_reference, "window"},
      {"BWD-PADDING", "BWD-REFERENCE on PADDING's cases: padded keys get zero gradients", Pass::backward, kAll, "padding", true,
       false, false, check_bwd_reference, "padding"},
      {"BWD-EMPTY-ROWS", "BWD-REFERENCE on EMPTY-ROWS' cases: empty rows get zero dQ and give nothing to dK, dV", Pass::backward,
       kAll, "empty-rows=zero", true, false, false, check_bwd_reference, "empty-rows"},
  };
  return properties;
}

const OpProperty& find_op_property(std::string_view name) {
  std::string names;
  for (const OpProperty& p : op_catalogue()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  }
  throw std::invalid_argument("unknown property \"" + std::string(name) + "\" (allowed: " + names + ")");
}

}  // namespace symbreak::validate