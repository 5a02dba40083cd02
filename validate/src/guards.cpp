#include "symbreak/validate/guards.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "symbreak/validate/kernel.hpp"

namespace symbreak::validate {
namespace {

constexpr std::uint32_t kCanary = 0x7FA05A5Au;  // a signalling-NaN bit pattern no kernel computes
// In f16/bf16 buffers each element is 0x7F85: a NaN in both types that no kernel computes (their NaNs
// are 0x7E00 and 0x7FC0), and the word of two of them is a float NaN too.
constexpr std::uint16_t kCanary16 = 0x7F85u;
constexpr std::uint32_t kCanary16Word = 0x7F857F85u;
// The guard regions: a quiet NaN as a float, and 0x7FC0 (NaN in f16 and in bf16) in each half, so a
// read past a buffer of any dtype sees NaN.
constexpr std::uint32_t kGuardBits = 0x7FC07FC0u;
constexpr unsigned char kMaskGuard = 0xA5;

float float_of(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
float canary_float(Dtype d) { return float_of(is16(d) ? kCanary16Word : kCanary); }

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

const std::uint16_t* halves(const float* at) { return reinterpret_cast<const std::uint16_t*>(at); }
std::uint16_t* halves(float* at) { return reinterpret_cast<std::uint16_t*>(at); }

}  // namespace

void GuardedLayout::Buffer::strides(Layout l, long long out[3]) const {
  if (l == Layout::bnhd) {
    out[1] = cols;
    out[2] = static_cast<long long>(heads) * cols;
  } else {
    out[2] = cols;
    out[1] = static_cast<long long>(rows) * cols;
  }
  out[0] = static_cast<long long>(heads) * rows * cols;
}

GuardedLayout::GuardedLayout(const AttentionOp& op, Layout l) : backward(op.backward()), layout(l), dtype(op.dtype) {
  std::size_t at = kGuard;
  const int kvh = op.kv_heads();
  const auto add = [&](std::string_view name, int heads, int rows, int cols, bool output) {
    const std::size_t size = static_cast<std::size_t>(op.batch) * heads * rows * cols;
    const std::size_t floats = is16(dtype) ? (size + 1) / 2 : size;
    buffers.push_back({name, at, size, output, op.batch, heads, rows, cols, floats});
    at += floats + kGuard;
  };
  add("q", op.heads, op.n_q, op.d_head, false);
  add("k", kvh, op.n_k, op.d_head, false);
  add("v", kvh, op.n_k, op.d_v, false);
  // The mask between guard bytes of its own (0xA5: a read past it sees "visible"), then a NaN guard
  // for the next buffer; the key lengths likewise (a read past them sees 0xA5A5A5A5, not a length).
  mask = at;
  mask_floats = (op.mask.size() + 3) / 4;
  at += mask_floats + 2 * kGuard;
  lens = at;
  at += op.kv_lens.size() + 2 * kGuard;
  bias = at;
  at += op.bias.size() + kGuard;
  slopes = at;
  at += op.alibi_slopes.size() + kGuard;
  if (backward) {
    add("o", op.heads, op.n_q, op.d_v, false);
    add("d_out", op.heads, op.n_q, op.d_v, false);
    add("d_q", op.heads, op.n_q, op.d_head, true);
    add("d_k", kvh, op.n_k, op.d_head, true);
    add("d_v", kvh, op.n_k, op.d_v, true);
  } else {
    add("out", op.heads, op.n_q, op.d_v, true);
  }
  total = at;
}

const GuardedLayout::Buffer& GuardedLayout::at(std::string_view name) const {
  for (const Buffer& b : buffers)
    if (b.name == name) return b;
  throw std::logic_error("GuardedLayout: no buffer " + std::string(name));
}

namespace {

// The input buffers' contents, in layout order.
std::vector<const std::vector<float>*> inputs(const GuardedLayout& l, const AttentionOp& op, const std::vector<float>& o) {
  std::vector<const std::vector<float>*> in = {&op.q, &op.k, &op.v};
  if (l.backward) {
    in.push_back(&o);
    in.push_back(&op.d_out);
  }
  return in;
}

// A [b][h][n][d] tensor in the buffer's layout, and back.
std::vector<float> to_layout(const std::vector<float>& x, const GuardedLayout::Buffer& b, Layout l) {
  if (l == Layout::bhnd) return x;
  std::vector<float> out(x.size());
  long long s[3];
  b.strides(l, s);
  write_strided(out.data(), s, x, b.batch, b.heads, b.rows, b.cols);
  return out;
}
std::vector<float> from_layout(const float* at, const GuardedLayout::Buffer& b, Layout l, Dtype d) {
  long long s[3];
  b.strides(l, s);
  return read_strided(d, at, s, b.batch, b.heads, b.rows, b.cols);
}

// Element e of a buffer's storage (e may run past the buffer, into its guards), as raw bits.
std::uint32_t stored_bits(const float* arena, const GuardedLayout::Buffer& b, Dtype d, std::ptrdiff_t e) {
  if (is16(d)) return halves(arena + b.offset)[e];
  std::uint32_t bits;
  std::memcpy(&bits, arena + b.offset + e, sizeof bits);
  return bits;
}
std::uint32_t bits_of(Dtype d, float x) {
  if (is16(d)) return to_bits16(d, x);
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

}  // namespace

void fill_guarded(float* arena, const GuardedLayout& l, const AttentionOp& op, const std::vector<float>& o) {
  if (l.backward && o.size() != op.out_size()) throw std::logic_error("fill_guarded: a backward call needs the forward output");
  const float guard = float_of(kGuardBits), canary = canary_float(l.dtype);
  std::fill(arena, arena + l.total, guard);
  std::memset(reinterpret_cast<unsigned char*>(arena + l.mask - GuardedLayout::kGuard), kMaskGuard,
              (l.mask_floats + 2 * GuardedLayout::kGuard) * sizeof(float));
  if (!op.mask.empty()) std::memcpy(arena + l.mask, op.mask.data(), op.mask.size());
  std::memset(reinterpret_cast<unsigned char*>(arena + l.lens - GuardedLayout::kGuard), kMaskGuard,
              (op.kv_lens.size() + 2 * GuardedLayout::kGuard) * sizeof(float));
  if (!op.kv_lens.empty()) std::memcpy(arena + l.lens, op.kv_lens.data(), op.kv_lens.size() * sizeof(int));
  std::copy(op.bias.begin(), op.bias.end(), arena + l.bias);
  std::copy(op.alibi_slopes.begin(), op.alibi_slopes.end(), arena + l.slopes);
  const auto in = inputs(l, op, o);
  std::size_t next = 0;
  for (const auto& b : l.buffers) {
    if (b.output) {
      std::fill(arena + b.offset - GuardedLayout::kGuard, arena + b.offset + b.floats + GuardedLayout::kGuard, canary);
    } else {
      const std::vector<float> laid = to_layout(*in[next++], b, l.layout);
      if (!is16(l.dtype)) {
        std::copy(laid.begin(), laid.end(), arena + b.offset);
        continue;
      }
      // The validator's values are the dtype's exactly (AttentionOp::validate); a value that is not
      // would be changed here, and the kernel would see another case than the reference.
      for (std::size_t e = 0; e < laid.size(); ++e) {
        if (!representable(l.dtype, laid[e]))
          throw std::logic_error("fill_guarded: " + std::string(b.name) + " holds a value that is not " +
                                 std::string(to_string(l.dtype)));
        halves(arena + b.offset)[e] = to_bits16(l.dtype, laid[e]);
      }
    }
  }
}

std::string check_guarded(const float* arena, const GuardedLayout& l, const AttentionOp& op, const std::vector<float>& o) {
  // Counted in elements of the dtype: the canary regions around an output, and what is still canary inside it.
  const bool narrow = is16(l.dtype);
  const std::uint32_t canary = narrow ? kCanary16 : kCanary;
  const std::ptrdiff_t per_float = narrow ? 2 : 1, guard = static_cast<std::ptrdiff_t>(GuardedLayout::kGuard) * per_float;
  const auto changed = [&](const GuardedLayout::Buffer& b, std::ptrdiff_t from, std::ptrdiff_t to) {
    int count = 0;
    for (std::ptrdiff_t e = from; e < to; ++e) count += stored_bits(arena, b, l.dtype, e) != canary;
    return count;
  };
  const std::string unit = narrow ? std::string(" ") + std::string(to_string(l.dtype)) + " elements" : " floats";
  for (const auto& b : l.buffers) {
    if (!b.output) continue;
    const std::ptrdiff_t end = static_cast<std::ptrdiff_t>(b.floats) * per_float;  // an odd f16 count pads one element
    const int before = changed(b, -guard, 0), after = changed(b, static_cast<std::ptrdiff_t>(b.size), end + guard);
    if (before || after)
      return "wrote " + std::to_string(before) + unit + " before and " + std::to_string(after) + unit + " after `" +
             std::string(b.name) + "`";
  }
  const auto in = inputs(l, op, o);
  std::size_t next = 0;
  const float guard_value = float_of(kGuardBits);
  for (const auto& b : l.buffers) {
    if (b.output) continue;
    const std::vector<float> original = to_layout(*in[next++], b, l.layout);
    for (std::size_t i = 0; i < original.size(); ++i)
      if (stored_bits(arena, b, l.dtype, static_cast<std::ptrdiff_t>(i)) != bits_of(l.dtype, original[i]))
        return "modified the input " + std::string(b.name);
    // Writes into an input's guard region land in memory the kernel does not own either.
    for (std::size_t i = b.offset - GuardedLayout::kGuard; i < b.offset; ++i)
      if (!same_bits(arena[i], guard_value)) return "wrote into memory before the input " + std::string(b.name);
  }
  if (!op.mask.empty() && std::memcmp(arena + l.mask, op.mask.data(), op.mask.size()) != 0) return "modified the input mask";
  if (!op.kv_lens.empty() && std::memcmp(arena + l.lens, op.kv_lens.data(), op.kv_lens.size() * sizeof(int)) != 0)
    return "modified the input kv_lens";
  for (std::size_t i = 0; i < op.bias.size(); ++i)
    if (!same_bits(arena[l.bias + i], op.bias[i])) return "modified the input bias";
  for (std::size_t i = 0; i < op.alibi_slopes.size(); ++i)
    if (!same_bits(arena[l.slopes + i], op.alibi_slopes[i])) return "modified the input alibi_slopes";
  for (const auto& b : l.buffers) {
    if (!b.output) continue;
    std::size_t unwritten = 0;
    for (std::size_t e = 0; e < b.size; ++e) unwritten += stored_bits(arena, b, l.dtype, static_cast<std::ptrdiff_t>(e)) == canary;
    if (unwritten)
      return "left " + std::to_string(unwritten) + " of " + std::to_string(b.size) + " elements of `" + std::string(b.name) +
             "` unwritten";
  }
  return "";
}

symbreak_attention_problem guarded_problem(float* arena, const GuardedLayout& l, const AttentionOp& op) {
  symbreak_attention_problem p = op.problem(arena + (l.backward ? l.at("o").offset : l.at("out").offset));
  p.q = arena + l.at("q").offset;
  p.k = arena + l.at("k").offset;
  p.v = arena + l.at("v").offset;
  p.mask = op.mask.empty() ? nullptr : reinterpret_cast<const unsigned char*>(arena + l.mask);
  return p;
}

symbreak_attention_backward_problem guarded_backward_problem(float* arena, const GuardedLayout& l, const AttentionOp& op) {
  symbreak_attention_backward_problem b{};
  b.forward = guarded_problem(arena, l, op);
  b.d_out = arena + l.at("d_out").offset;
  b.d_q = arena + l.at("d_q").offset;
  b.d_k = arena + l.at("d_k").offset;
  b.d_v = arena + l.at("d_v").offset;
  return b;
}

symbreak_attention_problem_v2 guarded_problem_v2(float* arena, const GuardedLayout& l, const AttentionOp& op) {
  const GuardedLayout::Buffer& out = l.at(l.backward ? "o" : "out");
  symbreak_attention_problem_v2 p = op.problem_v2(arena + out.offset);
  p.q = arena + l.at("q").offset;
  p.k = arena + l.at("k").offset;
  p.v = arena + l.at("v").offset;
  l.at("q").strides(l.layout, p.q_strides);
  l.at("k").strides(l.layout, p.k_strides);
  l.at("v").strides(l.layout, p.v_strides);
  out.strides(l.layout, p.out_strides);
  p.mask = op.mask.empty() ? nullptr : reinterpret_cast<const unsigned char*>(arena + l.mask);
  p.kv_lens = op.kv_lens.empty() ? nullptr : reinterpret_cast<const int*>(arena + l.lens);
  p.bias = op.bias.empty() ? nullptr : arena + l.bias;
  p.alibi_slopes = op.alibi_slopes.empty() ? nullptr : arena + l.slopes;
  return p;
}

symbreak_attention_backward_problem_v2 guarded_backward_problem_v2(float* arena, const GuardedLayout& l,
                                                                   const symbreak_attention_problem_v2& forward) {
  symbreak_attention_backward_problem_v2 b{};
  b.struct_size = sizeof b;
  b.forward = &forward;
  b.d_out = arena + l.at("d_out").offset;
  b.d_q = arena + l.at("d_q").offset;
  b.d_k = arena + l.at("d_k").offset;
  b.d_v = arena + l.at("d_v").offset;
  return b;
}

std::vector<float> read_output(const float* arena, const GuardedLayout& l, std::string_view name) {
  const auto& b = l.at(name);
  return from_layout(arena + b.offset, b, l.layout, l.dtype);
}

// ---- The kernel interface and in-process callables ------------------------------------------------

std::string_view to_string(CallResult::Status status) {
  switch (status) {
    case CallResult::Status::ok: return "ok";
    case CallResult::Status::returned_error: return "returned an error";
    case CallResult::Status::crashed: return "crashed";
    case CallResult::Status::timed_out: return "timed out";
    case CallResult::Status::load_error: return "could not be loaded";
    case CallResult::Status::guard_violation: return "wrote outside its outputs";
    case CallResult::Status::bad_output: return "bad output";
    case CallResult::Status::unsupported: return "has no backward pass";
  }
  return "?";
}

CallResult Kernel::backward(const AttentionOp&, const std::vector<float>&) {
  CallResult r;
  r.status = CallResult::Status::unsupported;
  r.message = "the kernel exports no backward pass";
  return r;
}

CallableKernel::CallableKernel(std::string name, Forward forward, Backward backward, Capabilities caps, std::string cli_flags)
    : name_(std::move(name)),
      forward_(std::move(forward)),
      backward_(std::move(backward)),
      caps_(caps),
      flags_(std::move(cli_flags)) {
  caps_.backward = caps_.backward || static_cast<bool>(backward_);
}

namespace {

// One guarded call in this process: `call` gets the arena and returns the kernel's code.
CallResult guarded_call(const AttentionOp& op, const std::vector<float>& o,
                        const std::function<int(float*, const GuardedLayout&)>& call, Layout layout_kind = Layout::bhnd) {
  const GuardedLayout layout(op, layout_kind);
  std::vector<float> arena(layout.total);
  fill_guarded(arena.data(), layout, op, o);
  CallResult r;
  if (const int code = call(arena.data(), layout); code != 0) {
    r.status = CallResult::Status::returned_error;
    r.message = "returned " + std::to_string(code);
    return r;
  }
  if (std::string bad = check_guarded(arena.data(), layout, op, o); !bad.empty()) {
    r.status = CallResult::Status::guard_violation;
    r.message = bad;
    return r;
  }
  if (layout.backward) {
    r.dq = read_output(arena.data(), layout, "d_q");
    r.dk = read_output(arena.data(), layout, "d_k");
    r.dv = read_output(arena.data(), layout, "d_v");
  } else {
    r.out = read_output(arena.data(), layout, "out");
  }
  return r;
}

}  // namespace

CallResult CallableKernel::forward(const AttentionOp& op) {
  if (op.uses_v2()) {
    CallResult r;
    r.status = CallResult::Status::returned_error;
    r.message = "this case needs the version-2 problem (" + v2_words_of(op) + "): use CallableKernelV2";
    return r;
  }
  AttentionOp forward_op = op;
  forward_op.d_out.clear();
  return guarded_call(forward_op, {},
                      [&](float* arena, const GuardedLayout& l) { return forward_(guarded_problem(arena, l, forward_op)); });
}

CallResult CallableKernel::backward(const AttentionOp& op, const std::vector<float>& o) {
  if (!backward_) return Kernel::backward(op, o);
  if (op.uses_v2()) return forward(op);  // the same refusal
  return guarded_call(op, o,
                      [&](float* arena, const GuardedLayout& l) { return backward_(guarded_backward_problem(arena, l, op)); });
}

CallableKernelV2::CallableKernelV2(std::string name, Forward forward, Backward backward, Capabilities caps, std::string cli_flags)
    : name_(std::move(name)),
      forward_(std::move(forward)),
      backward_(std::move(backward)),
      caps_(caps),
      flags_(std::move(cli_flags)) {
  caps_.backward = caps_.backward || static_cast<bool>(backward_);
}

CallResult CallableKernelV2::forward(const AttentionOp& op) {
  AttentionOp forward_op = op;
  forward_op.d_out.clear();
  return guarded_call(
      forward_op, {}, [&](float* arena, const GuardedLayout& l) { return forward_(guarded_problem_v2(arena, l, forward_op)); },
      caps_.layout_bnhd ? Layout::bnhd : Layout::bhnd);
}

CallResult CallableKernelV2::backward(const AttentionOp& op, const std::vector<float>& o) {
  if (!backward_) return Kernel::backward(op, o);
  return guarded_call(
      op, o,
      [&](float* arena, const GuardedLayout& l) {
        const symbreak_attention_problem_v2 p = guarded_problem_v2(arena, l, op);
        return backward_(guarded_backward_problem_v2(arena, l, p));
      },
      caps_.layout_bnhd ? Layout::bnhd : Layout::bhnd);
}

}  // namespace symbreak::validate
