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

std::map<std::string, BuiltinKernel>& registry() {
  static std::map<std::string, BuiltinKernel> kernels{
      {"naive", {naive_attention, naive_attention_backward, {}}},
      {"tiled",
       {[](const symbreak_attention_problem* p) { return tiled_attention(p, 16, 16); },
        [](const symbreak_attention_backward_problem* p) { return tiled_attention_backward(p, 16, 16); },
        {}}},
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
      BuiltinKernel k{[bq, bk](const symbreak_attention_problem* p) { return tiled_attention(p, bq, bk); },
                      [bq, bk](const symbreak_attention_backward_problem* p) { return tiled_attention_backward(p, bq, bk); },
                      {}};
      k.capabilities.backward = true;
      return k;
    }
  }
  std::string names;
  for (const auto& n : builtin_kernel_names()) names += (names.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown built-in kernel \"" + name + "\" (allowed: " + names + ")");
}

}  // namespace symbreak::validate
