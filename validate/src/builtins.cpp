// The built-in attention kernels `symbreak validate --builtin NAME` runs: naive (the float32
// reference, forward and backward), tiled (FlashAttention's online softmax forward and
// FlashAttention-2's blocked backward, any block sizes), and kernels registered by optional modules
// (libtorch).
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "symbreak/validate/validate.hpp"

namespace symbreak::validate {
namespace {

// The version-2 region of symbreak's own kernels: everything, in one causal alignment each (naive:
// bottom-right, as FlashAttention >= 2.1; tiled: top-left, as PyTorch's is_causal).
Capabilities v2_region(Alignment alignment) {
  Capabilities c;
  c.align_bottom_right = alignment == Alignment::bottom_right;
  c.align_top_left = alignment == Alignment::top_left;
  c.gqa = c.window = c.padding = c.mask_per_head = c.empty_rows = c.layout_bnhd = c.softcap = c.bias = c.alibi = true;
  return c;
}

BuiltinKernel tiled_kernel(int bq, int bk) {
  BuiltinKernel k{[bq, bk](const symbreak_attention_problem* p) { return tiled_attention(p, bq, bk); },
                  [bq, bk](const symbreak_attention_backward_problem* p) { return tiled_attention_backward(p, bq, bk); },
                  v2_region(Alignment::top_left),
                  [bq, bk](const symbreak_attention_problem_v2* p) { return tiled_attention_v2(p, bq, bk); },
                  [bq, bk](const symbreak_attention_backward_problem_v2* p) { return tiled_attention_backward_v2(p, bq, bk); }};
  return k;
}

std::map<std::string, BuiltinKernel>& registry() {
  static std::map<std::string, BuiltinKernel> kernels{
      {"naive",
       {naive_attention, naive_attention_backward, v2_region(Alignment::bottom_right), naive_attention_v2,
        naive_attention_backward_v2}},
      {"tiled", tiled_kernel(16, 16)},
  };
  return kernels;
}

}  // namespace

bool register_builtin_kernel(const std::string& name, BuiltinKernel kernel) {
  registry()[name] = std::move(kernel);
  return true;
}

std::vector<std::string> builtin_kernel_names() {
  std::vector<std::string> names;
  for (const auto& [name, kernel] : registry()) names.push_back(name);
  names.push_back("tiled:BQ:BK");
  return names;
}

BuiltinKernel builtin_entry(const std::string& name) {
  if (const auto it = registry().find(name); it != registry().end()) {
    BuiltinKernel k = it->second;
    k.capabilities.backward = static_cast<bool>(k.backward);
    return k;
  }
  if (name.starts_with("tiled:")) {
    int bq = 0, bk = 0;
    char tail = 0;
    if (std::sscanf(name.c_str(), "tiled:%d:%d%c", &bq, &bk, &tail) == 2 && bq >= 1 && bk >= 1 && bq <= 4096 && bk <= 4096) {
      BuiltinKernel k = tiled_kernel(bq, bk);
      k.capabilities.backward = true;
      return k;
    }
  }
  std::string names;
  for (const auto& n : builtin_kernel_names()) names += (names.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown built-in kernel \"" + name + "\" (allowed: " + names + ")");
}

}  // namespace symbreak::validate
