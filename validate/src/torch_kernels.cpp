// libtorch 1.13 kernels for `symbreak validate --builtin torch-mha | torch-sdpa` (built only when
// libtorch-dev is installed), forward and, through autograd, backward, on the version-2 problem: the
// tensors are read in place through their strides (any layout) in f32, f16 or bf16, and every mask
// feature 1.13 has is exercised through its own interface.
//
// What each declares is exactly what libtorch 1.13's C++ API can express (docs/BUILD.md has the traps):
//  - torch-sdpa, the private at::_scaled_dot_product_attention: its is_causal flag (top-left when
//    n_q != n_k), a boolean attn_mask (True = attend) of any broadcastable shape, so per batch item
//    and head, and key padding through that mask; a float attn_mask is ADDED to the scores: the bias.
//  - torch-mha, torch::nn::functional::multi_head_attention_forward (sequence first): an attn_mask
//    that it ADDS to the scores (a bool mask is silently added as 0/1, so the mask is float 0/−inf)
//    and that it unsqueezes to one plane shared by the batch and the heads (no per-head mask, no
//    per-head bias), and key_padding_mask. It needs d_v == d_head.
//  - Neither takes a scale (1/√d_head always), has grouped heads, windows, softcap or ALiBi.
//  - Both return NaN for a row with no visible key (softmax's 0/0, pytorch#41508): empty-rows=nan.
//  - Both multiply every value row by its weight, masked ones too, so a NaN in a masked value
//    reaches the output (pytorch#101967), and a masked score that overflowed to +inf becomes +inf −
//    inf = NaN: masked-finite.
#include <torch/torch.h>

#include <limits>

#include "symbreak/validate/validate.hpp"

namespace symbreak::validate {
namespace {

torch::ScalarType scalar_type(int dtype) {
  switch (dtype) {
    case SYMBREAK_DTYPE_F16: return torch::kHalf;
    case SYMBREAK_DTYPE_BF16: return torch::kBFloat16;
    default: return torch::kFloat32;
  }
}

// A [batch][heads][n][d] view of the caller's buffer through its strides: no copy, any layout.
torch::Tensor strided_view(const void* data, const long long (&strides)[3], int dtype, int64_t batch, int64_t heads, int64_t n,
                           int64_t d) {
  return torch::from_blob(const_cast<void*>(data), {batch, heads, n, d}, {strides[0], strides[1], strides[2], 1},
                          torch::TensorOptions().dtype(scalar_type(dtype)));
}

// Writes `t` into the caller's strided buffer `dst` (same shape).
void write_strided(void* dst, const long long (&strides)[3], int dtype, const torch::Tensor& t) {
  strided_view(dst, strides, dtype, t.size(0), t.size(1), t.size(2), t.size(3)).copy_(t);
}

// [batch][heads][n_q][n_k]: true where query i may attend key j by the explicit mask (shared or per
// head), the causal condition (top-left: j <= i) and, with `with_padding`, the key lengths.
torch::Tensor visible(const symbreak_attention_problem_v2& p, bool with_padding = true) {
  auto allowed = torch::ones({p.batch, p.heads, p.n_q, p.n_k}, torch::kBool);
  auto a = allowed.accessor<bool, 4>();
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < p.heads; ++h)
      for (int i = 0; i < p.n_q; ++i)
        for (int j = 0; j < p.n_k; ++j) {
          const std::size_t plane = p.mask_per_head ? static_cast<std::size_t>(b * p.heads + h) : 0;
          const bool masked = p.mask && !p.mask[(plane * p.n_q + i) * p.n_k + j];
          const bool future = p.causal && j > i;
          const bool padding = with_padding && p.kv_lens && j >= p.kv_lens[b];
          a[b][h][i][j] = !(masked || future || padding);
        }
  return allowed;
}

struct Inputs {
  torch::Tensor q, k, v;  // [batch][heads][n][d] in the case's dtype
};

// torch-sdpa. Each of 1.13's mask interfaces in turn: is_causal alone, a boolean mask (per batch item
// and head) for masks and padding, a float mask for the bias.
torch::Tensor sdpa(const symbreak_attention_problem_v2& p, const Inputs& in) {
  const bool causal_only = p.causal && !p.mask && !p.kv_lens && !p.bias;
  c10::optional<torch::Tensor> attn_mask;
  if (p.bias) {
    torch::Tensor allowed = visible(p);
    torch::Tensor bias = torch::from_blob(const_cast<float*>(p.bias), {1, p.heads, p.n_q, p.n_k}, torch::kFloat32);
    attn_mask = bias.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity()).to(in.q.scalar_type());
  } else if (!causal_only && (p.causal || p.mask || p.kv_lens)) {
    attn_mask = visible(p);
  }
  auto [out, weights] = at::_scaled_dot_product_attention(in.q, in.k, in.v, attn_mask, 0.0, false, causal_only);
  return out;
}

// torch-mha: MultiheadAttention's forward with identity projections, exactly the op under test. The
// projections are passed separately: with the packed in_proj_weight, libtorch 1.13 decides "key is
// value" by torch::equal, i.e. by VALUE, and then projects both from `key`, so autograd sends dV into
// dK whenever K and V happen to be equal (the validator found this on K = V = [[-1]]).
torch::Tensor mha(const symbreak_attention_problem_v2& p, const Inputs& in) {
  namespace F = torch::nn::functional;
  const int64_t e = static_cast<int64_t>(p.heads) * p.d_head;
  const torch::Tensor eye = torch::eye(e).to(in.q.scalar_type());  // exact in every dtype (1.13 has no bf16 eye)
  // [b][h][n][d] → (n, b, h·d), sequence first.
  const auto seq_first = [&](const torch::Tensor& t, int n, int d) {
    return t.permute({2, 0, 1, 3}).reshape({n, p.batch, p.heads * d});
  };
  auto options = F::MultiheadAttentionForwardFuncOptions(e, p.heads, /*in_proj_weight=*/{}, /*in_proj_bias=*/{}, /*bias_k=*/{},
                                                         /*bias_v=*/{}, /*add_zero_attn=*/false, /*dropout_p=*/0.0,
                                                         /*out_proj_weight=*/eye, /*out_proj_bias=*/{})
                     .training(false)
                     .need_weights(false)
                     .use_separate_proj_weight(true)
                     .q_proj_weight(eye)
                     .k_proj_weight(eye)
                     .v_proj_weight(eye);
  if (p.causal || p.mask) {
    // One (n_q, n_k) plane for the batch and the heads (the declaration holds it to a shared mask);
    // the key lengths go to key_padding_mask.
    torch::Tensor allowed = visible(p, /*with_padding=*/false)[0][0];
    options = options.attn_mask(torch::zeros({p.n_q, p.n_k}, torch::kFloat32)
                                    .masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity())
                                    .to(in.q.scalar_type()));
  }
  if (p.kv_lens) {
    auto padded = torch::zeros({p.batch, p.n_k}, torch::kBool);  // True = a padding key (PyTorch's convention)
    for (int b = 0; b < p.batch; ++b) padded.index_put_({b, torch::indexing::Slice(p.kv_lens[b])}, true);
    options = options.key_padding_mask(padded);
  }
  auto [out, weights] = F::multi_head_attention_forward(seq_first(in.q, p.n_q, p.d_head), seq_first(in.k, p.n_k, p.d_head),
                                                        seq_first(in.v, p.n_k, p.d_v), options);
  // (n_q, b, h·d) → [b][h][n_q][d]
  return out.reshape({p.n_q, p.batch, p.heads, p.d_v}).permute({1, 2, 0, 3});
}

using Attention = torch::Tensor (*)(const symbreak_attention_problem_v2&, const Inputs&);

Inputs views(const symbreak_attention_problem_v2& p) {
  return {strided_view(p.q, p.q_strides, p.dtype, p.batch, p.heads, p.n_q, p.d_head),
          strided_view(p.k, p.k_strides, p.dtype, p.batch, p.heads_kv, p.n_k, p.d_head),
          strided_view(p.v, p.v_strides, p.dtype, p.batch, p.heads_kv, p.n_k, p.d_v)};
}

int forward_with(Attention f, const symbreak_attention_problem_v2* p) {
  try {
    torch::NoGradGuard no_grad;
    at::set_num_threads(1);
    write_strided(p->out, p->out_strides, p->dtype, f(*p, views(*p)));
    return 0;
  } catch (const std::exception&) {
    return 3;
  }
}

// The gradients by libtorch's autograd: backward of <O, dO>.
int backward_with(Attention f, const symbreak_attention_backward_problem_v2* b) {
  const symbreak_attention_problem_v2& p = *b->forward;
  try {
    at::set_num_threads(1);
    Inputs leaves = views(p);
    for (torch::Tensor* t : {&leaves.q, &leaves.k, &leaves.v}) *t = t->clone().requires_grad_(true);
    torch::Tensor out = f(p, leaves);
    out.backward(strided_view(b->d_out, p.out_strides, p.dtype, p.batch, p.heads, p.n_q, p.d_v).clone());
    // Autograd leaves the gradient of an input that does not influence the output undefined (a
    // query with a single key, whose weight is 1 whatever q and k are): it is zero.
    const auto grad = [](const torch::Tensor& t) { return t.grad().defined() ? t.grad() : torch::zeros_like(t); };
    write_strided(b->d_q, p.q_strides, p.dtype, grad(leaves.q));
    write_strided(b->d_k, p.k_strides, p.dtype, grad(leaves.k));
    write_strided(b->d_v, p.v_strides, p.dtype, grad(leaves.v));
    return 0;
  } catch (const std::exception&) {
    return 3;
  }
}

// The region both share (see the top of this file); dtype stays f32 unless --supports says otherwise.
Capabilities torch_region() {
  Capabilities c;
  c.any_scale = false;
  c.masked_finite = true;
  c.align_top_left = true;
  c.padding = true;
  c.empty_rows = c.empty_rows_nan = true;
  c.layout_bnhd = true;
  return c;
}

Capabilities sdpa_capabilities() {
  Capabilities c = torch_region();
  c.mask_per_head = true;
  c.bias = true;
  return c;
}

Capabilities mha_capabilities() {
  Capabilities c = torch_region();
  c.dv_differs = false;
  return c;
}

BuiltinKernel torch_kernel(Attention f, Capabilities caps) {
  BuiltinKernel k;
  k.capabilities = caps;
  k.forward_v2 = [f](const symbreak_attention_problem_v2* p) { return forward_with(f, p); };
  k.backward_v2 = [f](const symbreak_attention_backward_problem_v2* b) { return backward_with(f, b); };
  return k;
}

}  // namespace

const bool torch_kernels_registered = register_builtin_kernel("torch-mha", torch_kernel(mha, mha_capabilities())) &&
                                      register_builtin_kernel("torch-sdpa", torch_kernel(sdpa, sdpa_capabilities()));

}  // namespace symbreak::validate
