// libtorch 1.13 kernels for `symbreak validate --builtin torch-mha | torch-sdpa` (built only when
// libtorch-dev is installed). The traps of 1.13 (TOOLCHAIN.md): MultiheadAttention is sequence-first
// (L, N, E) and ADDS attn_mask to the scores, so the mask is a float mask of 0 and -inf (a bool mask
// is silently wrong); the only SDPA is the private at::_scaled_dot_product_attention; neither takes a
// scale (always 1/sqrt(d_head)).
#include <torch/torch.h>

#include <limits>

#include "symbreak/validate.hpp"

namespace symbreak {
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

}  // namespace

int torch_sdpa_attention(const symbreak_attention_problem* p) {
  try {
    torch::NoGradGuard no_grad;
    at::set_num_threads(1);
    auto q = view(p->q, p->batch, p->heads, p->n_q, p->d_head), k = view(p->k, p->batch, p->heads, p->n_k, p->d_head);
    auto v = view(p->v, p->batch, p->heads, p->n_k, p->d_v);
    auto [out, weights] = at::_scaled_dot_product_attention(q, k, v, additive_mask(*p), 0.0, false, false);
    std::memcpy(p->out, out.contiguous().data_ptr<float>(), out.numel() * sizeof(float));
    return 0;
  } catch (const std::exception&) {
    return 3;
  }
}

int torch_mha_attention(const symbreak_attention_problem* p) {
  if (p->d_v != p->d_head) return 4;  // MultiheadAttention cannot express it (the limits say so)
  try {
    torch::NoGradGuard no_grad;
    at::set_num_threads(1);
    const int64_t e = static_cast<int64_t>(p->heads) * p->d_head;
    torch::nn::MultiheadAttention mha(torch::nn::MultiheadAttentionOptions(e, p->heads).bias(false));
    // Identity projections: the module then computes exactly the op under test.
    mha->in_proj_weight.set_data(torch::cat({torch::eye(e), torch::eye(e), torch::eye(e)}));
    mha->out_proj->weight.set_data(torch::eye(e));
    // [b][h][n][d] → (n, b, h·d), sequence first.
    const auto seq_first = [&](const float* data, int n, int d) {
      return view(data, p->batch, p->heads, n, d).permute({2, 0, 1, 3}).reshape({n, p->batch, p->heads * d});
    };
    auto [out, weights] = mha->forward(seq_first(p->q, p->n_q, p->d_head), seq_first(p->k, p->n_k, p->d_head),
                                       seq_first(p->v, p->n_k, p->d_v), {}, false, additive_mask(*p));
    // (n_q, b, h·d) → [b][h][n_q][d]
    auto result = out.reshape({p->n_q, p->batch, p->heads, p->d_v}).permute({1, 2, 0, 3}).contiguous();
    std::memcpy(p->out, result.data_ptr<float>(), result.numel() * sizeof(float));
    return 0;
  } catch (const std::exception&) {
    return 3;
  }
}

// PyTorch 1.13 takes no scale (1/sqrt(d_head) always), and MultiheadAttention needs d_v == d_head.
const bool torch_kernels_registered = register_builtin_kernel("torch-mha", torch_mha_attention, {true, true}) &&
                                      register_builtin_kernel("torch-sdpa", torch_sdpa_attention, {false, true});

}  // namespace symbreak
