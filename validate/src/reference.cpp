#include "symbreak/validate/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>

#include "panel.hpp"

namespace symbreak::validate {

using namespace panel;

std::vector<HeadSlice> head_slices(const AttentionOp& op) {
  std::vector<HeadSlice> out;
  for (int b = 0; b < op.batch; ++b)
    for (int h = 0; h < op.heads; ++h) {
      HeadSlice s;
      s.b = b;
      s.h = h;
      s.kv_head = op.kv_head_of(h);
      const int nk = op.kv_len(b);
      for (int i = 0; i < op.n_q; ++i)
        if (!op.row_empty(b, h, i)) s.rows.push_back(i);
      AttentionOp& x = s.op;
      x.n_q = static_cast<int>(s.rows.size());
      x.n_k = nk;
      x.d_head = op.d_head;
      x.d_v = op.d_v;
      x.scale = op.scale;
      x.softcap = op.softcap;
      x.dtype = op.dtype;
      if (x.n_q == 0) {
        out.push_back(std::move(s));
        continue;
      }
      const std::size_t q0 = (static_cast<std::size_t>(b) * op.heads + h) * op.n_q,
                        k0 = (static_cast<std::size_t>(b) * op.kv_heads() + s.kv_head) * op.n_k;
      for (int i : s.rows) {
        x.q.insert(x.q.end(), op.q.begin() + static_cast<std::ptrdiff_t>((q0 + i) * op.d_head),
                   op.q.begin() + static_cast<std::ptrdiff_t>((q0 + i + 1) * op.d_head));
        if (op.backward())
          x.d_out.insert(x.d_out.end(), op.d_out.begin() + static_cast<std::ptrdiff_t>((q0 + i) * op.d_v),
                         op.d_out.begin() + static_cast<std::ptrdiff_t>((q0 + i + 1) * op.d_v));
      }
      x.k.assign(op.k.begin() + static_cast<std::ptrdiff_t>(k0 * op.d_head),
                 op.k.begin() + static_cast<std::ptrdiff_t>((k0 + nk) * op.d_head));
      x.v.assign(op.v.begin() + static_cast<std::ptrdiff_t>(k0 * op.d_v), op.v.begin() + static_cast<std::ptrdiff_t>((k0 + nk) * op.d_v));
      x.mask.resize(static_cast<std::size_t>(x.n_q) * nk);
      bool all = true;
      for (int r = 0; r < x.n_q; ++r)
        for (int j = 0; j < nk; ++j) all &= (x.mask[static_cast<std::size_t>(r) * nk + j] = op.visible(b, h, s.rows[r], j)) != 0;
      if (all) x.mask.clear();
      if (op.biased()) {
        s.bias.resize(static_cast<std::size_t>(x.n_q) * nk);
        for (int r = 0; r < x.n_q; ++r)
          for (int j = 0; j < nk; ++j)  // hidden keys (−inf) are masked above; their bias is never read
            s.bias[static_cast<std::size_t>(r) * nk + j] = x.mask.empty() || x.mask[static_cast<std::size_t>(r) * nk + j]
                                                               ? op.score_bias(b, h, s.rows[static_cast<std::size_t>(r)], j)
                                                               : 0.0;
      }
      out.push_back(std::move(s));
    }
  return out;
}

std::size_t HeadSlice::q_row(const AttentionOp& op, int r) const {
  return (static_cast<std::size_t>(b) * op.heads + h) * op.n_q + rows[static_cast<std::size_t>(r)];
}
std::size_t HeadSlice::k_row(const AttentionOp& op, int j) const {
  return (static_cast<std::size_t>(b) * op.kv_heads() + kv_head) * op.n_k + j;
}

std::vector<Exact> exact_attention(const AttentionOp& op) {
  op.validate();
  std::vector<Exact> result(op.out_size());  // rows with no visible key stay 0
  for (const HeadSlice& s : head_slices(op)) {
    if (s.rows.empty()) continue;
    forward_heads<Exact>(s.op.problem(nullptr), exact_from_double(op.scale), scores_of(s), [&](std::size_t, const Tensor<Exact>& out) {
      for (int r = 0; r < s.op.n_q; ++r)
        for (int c = 0; c < op.d_v; ++c) result[s.q_row(op, r) * op.d_v + c] = out(r, c);
    });
  }
  return result;
}

ExactGradients exact_attention_backward(const AttentionOp& op) {
  op.validate();
  if (!op.backward()) throw std::invalid_argument("exact_attention_backward: the op has no d_out");
  ExactGradients g{std::vector<Exact>(op.q_size()), std::vector<Exact>(op.k_size()), std::vector<Exact>(op.v_size())};
  for (const HeadSlice& s : head_slices(op)) {
    if (s.rows.empty()) continue;
    const auto b = s.op.backward_problem(nullptr, nullptr, nullptr, nullptr);
    backward_heads<Exact>(b, exact_from_double(op.scale), scores_of(s), [&](std::size_t, const auto& dq, const auto& dk, const auto& dv) {
      for (int r = 0; r < s.op.n_q; ++r)
        for (int c = 0; c < op.d_head; ++c) g.dq[s.q_row(op, r) * op.d_head + c] = dq(r, c);
      for (int j = 0; j < s.op.n_k; ++j) {  // exact sums over a group's query heads
        for (int c = 0; c < op.d_head; ++c) g.dk[s.k_row(op, j) * op.d_head + c] += dk(j, c);
        for (int c = 0; c < op.d_v; ++c) g.dv[s.k_row(op, j) * op.d_v + c] += dv(j, c);
      }
    });
  }
  return g;
}

std::vector<float> float_forward(const AttentionOp& op) {
  std::vector<float> out = assemble(op, head_slices(op), false, [](const HeadSlice& s, std::vector<float>& o, auto&, auto&, auto&) {
                             const symbreak_attention_problem p = s.op.problem(o.data());
                             return naive_forward(&p, scores_of(s));
                           }).out;
  round_in_place(op.dtype, out);
  return out;
}

namespace {

// The panel's variants of one slice: the op as given, q pre-scaled, √scale on both q and k.
AttentionOp q_prescaled(AttentionOp x) {
  for (float& v : x.q) v *= x.scale;
  x.scale = 1;
  return x;
}
AttentionOp split_scale(AttentionOp x) {
  const float root = std::sqrt(std::abs(x.scale)), sign = x.scale < 0 ? -1.0f : 1.0f;
  for (float& v : x.q) v *= root * sign;
  for (float& v : x.k) v *= root;
  x.scale = 1;
  return x;
}

}  // namespace

Reference::Reference(const AttentionOp& op) : unit(unit_roundoff(op.dtype)) {
  for (const Exact& e : exact_attention(op)) {
    exact.push_back(exact_to_double(e));
    scale = std::max(scale, std::abs(exact.back()));
  }
  const std::vector<HeadSlice> slices = head_slices(op);
  using Kernel = int (*)(const symbreak_attention_problem*, const Scores&);
  // In f16/bf16 every panel output is rounded to the dtype, as the kernel's is: the panel is then the
  // same-dtype reference (inputs and outputs in the dtype, float32 accumulation, as FlashAttention-class
  // kernels compute). A kernel that keeps its scores in the dtype (PyTorch's eager attention) errs
  // more at large logits, and is held to this reference all the same (validate/README.md).
  const auto measure = [&](AttentionOp (*variant)(AttentionOp), Kernel kernel) {
    Assembled a = assemble(op, slices, false, [&](const HeadSlice& s, std::vector<float>& out, auto&, auto&, auto&) {
      const AttentionOp v = variant ? variant(s.op) : s.op;
      const symbreak_attention_problem p = v.problem(out.data());
      return kernel(&p, scores_of(s));
    });
    round_in_place(op.dtype, a.out);
    for (std::size_t i = 0; i < exact.size(); ++i) err = std::max(err, std::abs(static_cast<double>(a.out[i]) - exact[i]));
  };
  const Kernel sequential = [](const symbreak_attention_problem* p, const Scores& sc) { return sequential_attention(p, sc); };
  measure(nullptr, naive_forward);
  measure(nullptr, sequential);
  measure(nullptr, [](const symbreak_attention_problem* p, const Scores& sc) { return tiled_forward(p, 16, 16, sc); });
  measure(q_prescaled, naive_forward);
  measure(split_scale, naive_forward);
  terms = op_term_sizes(op, slices).out;
  // A kernel declaring empty-rows=nan writes NaN where a row sees no key: the reference says so too
  // (after the panel is measured: its kernels write zeros there), and compare() then wants NaN.
  if (op.empty_rows_nan)
    for (int b = 0; b < op.batch; ++b)
      for (int h = 0; h < op.heads; ++h)
        for (int i = 0; i < op.n_q; ++i)
          if (op.row_empty(b, h, i))
            for (int c = 0; c < op.d_v; ++c)
              exact[((static_cast<std::size_t>(b) * op.heads + h) * op.n_q + i) * op.d_v + c] = std::numeric_limits<double>::quiet_NaN();
}

GradientReference::GradientReference(const AttentionOp& op) : o(float_forward(op)) {
  unit = unit_roundoff(op.dtype);
  const ExactGradients g = exact_attention_backward(op);
  const std::vector<Exact>* e[3] = {&g.dq, &g.dk, &g.dv};
  for (int t = 0; t < 3; ++t)
    for (const Exact& x : *e[t]) {
      exact[t].push_back(exact_to_double(x));
      scale[t] = std::max(scale[t], std::abs(exact[t].back()));
    }
  const std::vector<HeadSlice> slices = head_slices(op);
  // `q_factor` multiplies the dq a variant computes (the chain rule of a pre-scaled q).
  using Kernel = int (*)(const symbreak_attention_backward_problem*, const Scores&);
  // As the forward's: outputs rounded to the dtype.
  const auto measure = [&](AttentionOp (*variant)(AttentionOp), Kernel kernel, float q_factor) {
    const Assembled a = assemble(op, slices, true, [&](const HeadSlice& s, auto&, auto& dq, auto& dk, auto& dv) {
      const AttentionOp v = variant ? variant(s.op) : s.op;
      const std::vector<float> slice_o = slice_forward(s);
      const auto b = v.backward_problem(slice_o.data(), dq.data(), dk.data(), dv.data());
      return kernel(&b, scores_of(s));
    });
    const std::vector<float>* f[3] = {&a.dq, &a.dk, &a.dv};
    for (int t = 0; t < 3; ++t)
      for (std::size_t i = 0; i < exact[t].size(); ++i) {
        double x = static_cast<double>((*f[t])[i]) * (t == 0 ? q_factor : 1.0f);
        if (is16(op.dtype)) x = round_to(op.dtype, static_cast<float>(x));
        err[t] = std::max(err[t], std::abs(x - exact[t][i]));
      }
  };
  measure(nullptr, naive_backward, 1.0f);
  measure(nullptr, [](const symbreak_attention_backward_problem* b, const Scores& sc) { return sequential_attention_backward(b, sc); }, 1.0f);
  measure(nullptr, [](const symbreak_attention_backward_problem* b, const Scores& sc) { return tiled_backward(b, 16, 16, sc); }, 1.0f);
  measure(q_prescaled, naive_backward, op.scale);
  measure(nullptr, [](const symbreak_attention_backward_problem* b, const Scores& sc) { return jacobian_attention_backward(b, sc); }, 1.0f);
  TermSizes t = op_term_sizes(op, slices);
  terms[0] = std::move(t.dq);
  terms[1] = std::move(t.dk);
  terms[2] = std::move(t.dv);
}

}  // namespace symbreak::validate
