// The built-in attention kernels `symbreak validate --builtin NAME` runs: naive, tiled (FlashAttention
// online softmax, any block sizes), and kernels registered by optional modules (libtorch).
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "symbreak/attention_op.hpp"
#include "symbreak/validate.hpp"

namespace symbreak {
namespace {

struct Registered {
  std::function<int(const symbreak_attention_problem*)> entry;
  props::ops::KernelLimits limits;
};

std::map<std::string, Registered>& registry() {
  static std::map<std::string, Registered> kernels{
      {"naive", {naive_attention, {}}},
      {"tiled", {[](const symbreak_attention_problem* p) { return tiled_attention(p, 16, 16); }, {}}},
  };
  return kernels;
}

}  // namespace

bool register_builtin_kernel(const std::string& name, std::function<int(const symbreak_attention_problem*)> entry,
                             props::ops::KernelLimits limits) {
  registry()[name] = {std::move(entry), limits};
  return true;
}

std::vector<std::string> builtin_kernel_names() {
  std::vector<std::string> names;
  for (const auto& [name, kernel] : registry()) names.push_back(name);
  names.push_back("tiled:BQ:BK");
  return names;
}

std::function<int(const symbreak_attention_problem*)> builtin_entry(const std::string& name,
                                                                   props::ops::KernelLimits* limits) {
  if (const auto it = registry().find(name); it != registry().end()) {
    *limits = it->second.limits;
    return it->second.entry;
  }
  if (name.starts_with("tiled:")) {
    int bq = 0, bk = 0;
    char tail = 0;
    if (std::sscanf(name.c_str(), "tiled:%d:%d%c", &bq, &bk, &tail) == 2 && bq >= 1 && bk >= 1 && bq <= 4096 && bk <= 4096)
      return [bq, bk](const symbreak_attention_problem* p) { return tiled_attention(p, bq, bk); };
  }
  std::string names;
  for (const auto& n : builtin_kernel_names()) names += (names.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown built-in kernel \"" + name + "\" (allowed: " + names + ")");
}

OpReport validate(std::function<int(const symbreak_attention_problem&)> kernel, const ValidateOptions& options,
                  const std::string& name) {
  props::ops::CallableKernel k(name, std::move(kernel));
  return props::ops::run_op_suite(k, options);
}

}  // namespace symbreak
