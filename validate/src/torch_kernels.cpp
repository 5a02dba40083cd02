// libtorch 1.13 kernels for `symbreak validate --builtin torch-mha | torch-sdpa` (built only when
// libtorch-dev is installed), forward and, through autograd, backward. The traps of 1.13 (docs/BUILD.md): MultiheadAttention is
// sequence-first (L, N, E) and ADDS attn_mask to the scores, so the mask is a float mask of 0 and -inf (a bool mask is silently
// wrong); the only SDPA is the private at::_scaled_dot_product_attention; neither takes a scale (always 1/sqrt(d_head)).
#include <torch/torch.h>

#include <limits>

#include "symbreak/validate/validate.hpp"

namespace symbreak::validate {
namespace {

// (n_q, n_k): 0 where query i may attend key j, -inf elsewhere.
torch::Tensor additive_mask(const symbreak_attention_problem& p) {
  auto mask = torch::zeros({p.n_q, p.n_k}, torch::kFloat32);
  auto m = mask.accessor<float, 2>();
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < p.n_q; ++i)
    for (int j = 0; j < p.n_k; ++j) {
      const bool visible = (!p.causal || j <= i) && (!p.mask || p.mask[static_cast<std::size_t>(i) * p.n_k + j]);
      if (!visible) m[i][j] = neg_inf;
    }
  return mask;
}

torch::Tensor view(const float* data, int batch, int heads, int n, int d) {
  return torch::from_blob(const_cast<float*>(data), {batch, heads, n, d}, torch::kFloat32);
}

void copy_out(float* dst, const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  std::memcpy(dst, c.data_ptr<float>(), c.numel() * sizeof(float));
}

// The attention of torch-sdpa on leaf tensors (gradients on when `grad`).
torch::Tensor sdpa(const symbreak_attention_problem& p, torch::Tensor& q, torch::Tensor& k, torch::Tensor& v) {
  auto [out, weights] = at::_scaled_dot_product_attention(q, k, v, additive_mask(p), 0.0, false, false);
  return out;
}

// MultiheadAttention's forward (torch::nn::functional) with identity projections: exactly the op
// under test. The projections are passed separately: with the packed in_proj_weight, libtorch 1.13's
// C++ multi_head_attention_forward decides "key is value" by torch::equal, i.e. by VALUE, and then
// projects both from `key`, so autograd sends dV into dK whenever K and V happen to be equal (the
// validator found this on K = V = [[-1]]).
torch::Tensor mha(const symbreak_attention_problem& p, torch::Tensor& q, torch::Tensor& k, torch::Tensor& v) {
  namespace F = torch::nn::functional;
  const int64_t e = static_cast<int64_t>(p.heads) * p.d_head;
  const torch::Tensor eye = torch::eye(e);
  // [b][h][n][d] → (n, b, h·d), sequence first.
  const auto seq_first = [&](const torch::Tensor& t, int n, int d) {
    return t.permute({2, 0, 1, 3}).reshape({n, p.batch, p.heads * d});
  };
  auto [out, weights] = F::multi_head_attention_forward(
      seq_first(q, p.n_q, p.d_head), seq_first(k, p.n_k, p.d_head), seq_first(v, p.n_k, p.d_v),
      F::MultiheadAttentionForwardFuncOptions(
          e, p.heads, /*in_proj_weight=*/{}, /*in_proj_bias=*/{}, /*bias_k=*/{}, /*bias_v=*/{},
          /*add_zero_attn=*/false, /*dropout_p=*/0.0, /*out_proj_weight=*/eye, /*out_proj_bias=*/{})
          .training(false)
          .need_weights(false)
          .attn_mask(additive_mask(p))
          .use_separate_proj_weight(true)
          .q_proj_weight(eye)
          .k_proj_weight(eye)
          .v_proj_weight(eye));
  // (n_q, b, h·d) → [b][h][n_q][d]
  return out.reshape({p.n_q, p.batch, p.heads, p.d_v}).permute({1, 2, 0, 3});
}

using Attention = torch::Tensor (*)(const symbreak_attention_problem&, torch::Tensor&, torch::Tensor&, torch::Tensor&);

int forward_with(Attention f, const symbreak_attention_problem* p) {
  try {
    torch::NoGradGuard no_grad;
    at::set_num_threads(1);
    auto q = view(p->q, p->batch, p->heads, p->n_q, p->d_head), k = view(p->k, p->batch, p->heads, p->n_k, p->d_head);
    auto v = view(p->v, p->batch, p->heads, p->n_k, p->d_v);
    copy_out(p->out, f(*p, q, k, v));
    return 0;
  } catch (const std::exception&) {
    return 3;
  }
}

// The gradients by libtorch's autograd: backward of <O, dO>.
int backward_with(Attention f, const symbreak_attention_backward_problem* b) {
  const symbreak_attention_problem& p = b->forward;
  try {
    at::set_num_threads(1);
    auto q = view(p.q, p.batch, p.heads, p.n_q, p.d_head).clone().requires_grad_(true);
    auto k = view(p.k, p.batch, p.heads, p.n_k, p.d_head).clone().requires_grad_(true);
    auto v = view(p.v, p.batch, p.heads, p.n_k, p.d_v).clone().requires_grad_(true);
    torch::Tensor out = f(p, q, k, v);
    out.backward(view(b->d_out, p.batch, p.heads, p.n_q, p.d_v).clone());
    // Autograd leaves the gradient of an input that does not influence the output undefined (a
    // query with a single key, whose weight is 1 whatever q and k are): it is zero.
    for (auto [dst, t] : {std::pair{b->d_q, &q}, {b->d_k, &k}, {b->d_v, &v}})
      copy_out(dst, t->grad().defined() ? t->grad() : torch::zeros_like(*t));
    return 0;
  } catch (const std::exception&) {
    return 3;
  }
}

}  // namespace

// PyTorch 1.13 takes no scale (1/sqrt(d_head) always), and MultiheadAttention needs d_v == d_head.
// Both differentiate with autograd. Both multiply every value row by its softmax weight, masked ones
// too, so a NaN in a masked value reaches the output (pytorch#101967, fixed after 1.13), and both add
// −inf to masked scores, so a masked score that overflowed to +inf becomes NaN: declared as
// masked-finite, and MASKED-INDEPENDENCE checks them with finite, non-overflowing poisons only.
Capabilities torch_capabilities(bool dv_equals_dhead) {
  Capabilities c;
  c.any_scale = false;
  c.dv_differs = !dv_equals_dhead;
  c.masked_finite = true;
  return c;
}

const bool torch_kernels_registered =
    register_builtin_kernel(
        "torch-mha",
        {[](const symbreak_attention_problem* p) { return p->d_v != p->d_head ? 4 : forward_with(mha, p); },
         [](const symbreak_attention_backward_problem* b) { return backward_with(mha, b); }, torch_capabilities(true)}) &&
    register_builtin_kernel("torch-sdpa", {[](const symbreak_attention_problem* p) { return forward_with(sdpa, p); },
                                           [](const symbreak_attention_backward_problem* b) { return backward_with(sdpa, b); },
                                           torch_capabilities(false)});

}  // namespace symbreak::validate
