// An op's buffers laid out in one arena: each input between NaN guard regions (an out-of-bounds read
// turns the output into NaN) and each output between canaries (an out-of-bounds write is seen after
// the call, and so is an output left unwritten). Inputs must come back bit-identical. Offsets count
// floats from the arena's start; the mask occupies whole floats, and so does a buffer of f16/bf16
// elements (two per float). The same layout serves the child
// process of an isolated kernel (shared memory) and an in-process callable.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "symbreak/validate/op.hpp"

namespace symbreak::validate {

// Where a tensor's element (b, h, n, c) lies: [b][h][n][d] (the default) or [b][n][h][d] (the
// layout of a (batch, seq, heads, d) tensor, for kernels that declare `layout=bnhd`; version 2 only).
enum class Layout { bhnd, bnhd };

struct GuardedLayout {
  static constexpr std::size_t kGuard = 64;  // floats on each side of every buffer
  struct Buffer {
    std::string_view name;
    std::size_t offset = 0, size = 0;
    bool output = false;
    int batch = 0, heads = 0, rows = 0, cols = 0;
    std::size_t floats = 0;  // the arena floats it occupies: size, or ⌈size / 2⌉ for f16/bf16 elements
    // Element strides for batch, head and row in this layout.
    void strides(Layout layout, long long out[3]) const;
  };
  // forward: q, k, v, out; backward: q, k, v, o (the forward output, read-only), d_out, d_q, d_k, d_v.
  std::vector<Buffer> buffers;
  std::size_t mask = 0, mask_floats = 0, lens = 0, total = 0;
  std::size_t bias = 0, slopes = 0;  // the additive bias and the ALiBi slopes, between NaN guards
  bool backward = false;
  Layout layout = Layout::bhnd;
  Dtype dtype = Dtype::f32;  // of the tensor buffers (f16/bf16: 16-bit patterns, two per arena float)
  explicit GuardedLayout(const AttentionOp& op, Layout layout = Layout::bhnd);
  const Buffer& at(std::string_view name) const;
};

// Fills the arena: guards, inputs (`o`: the forward output of a backward call), outputs pre-filled
// with the canary.
void fill_guarded(float* arena, const GuardedLayout& layout, const AttentionOp& op, const std::vector<float>& o = {});
// After a call: "" if every guard, canary and input is intact and every output written, else what
// was touched.
std::string check_guarded(const float* arena, const GuardedLayout& layout, const AttentionOp& op,
                          const std::vector<float>& o = {});
// Problems pointing into the arena.
symbreak_attention_problem guarded_problem(float* arena, const GuardedLayout& layout, const AttentionOp& op);
symbreak_attention_backward_problem guarded_backward_problem(float* arena, const GuardedLayout& layout, const AttentionOp& op);
symbreak_attention_problem_v2 guarded_problem_v2(float* arena, const GuardedLayout& layout, const AttentionOp& op);
// The backward problem points at `forward`, which the caller keeps alive.
symbreak_attention_backward_problem_v2 guarded_backward_problem_v2(float* arena, const GuardedLayout& layout,
                                                                   const symbreak_attention_problem_v2& forward);
// Copies an output buffer out of the arena (in [b][h][n][d] order whatever the layout).
std::vector<float> read_output(const float* arena, const GuardedLayout& layout, std::string_view name);

}  // namespace symbreak::validate
