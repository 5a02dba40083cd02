// Validating attention kernels: the kernels under test (a C ABI plugin or a built-in kernel in an
// isolated child process, a command speaking the exec protocol, or a C++ callable) and the C++ API.
//
//   auto report = symbreak::validate([](const symbreak_attention_problem& p) { return my_kernel(&p); });
//   EXPECT_TRUE(report.passed());
//
// The op-level properties, the tolerance rule and the reports are in
// symbreak/properties/attention_ops.hpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "symbreak/attention_abi.h"
#include "symbreak/properties/attention_ops.hpp"

namespace symbreak {

using props::ops::CallResult;
using props::ops::Kernel;
using props::ops::OpReport;
using props::ops::ValidateOptions;

// Thrown when a kernel cannot be used at all (a library that does not load, a command that does not
// start or skips the handshake). The message names the file or command. The CLI exits 2 on it.
class KernelLoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A plugin (dlopen'd only in a child process) or a built-in kernel, run in a child process. A crash,
// abort or hang of the kernel is a failed call; the validator restarts the child and goes on.
// A missing symbol or a wrong ABI version fails every call with that message. `timeout` is per call.
std::unique_ptr<Kernel> plugin_kernel(const std::string& path, double timeout_seconds = 10);
std::unique_ptr<Kernel> builtin_kernel(const std::string& name, double timeout_seconds = 10);
std::vector<std::string> builtin_kernel_names();  // naive, tiled, tiled:BQ:BK, torch-* when built
// Adds a built-in kernel (optional modules such as the libtorch kernels register themselves).
bool register_builtin_kernel(const std::string& name, std::function<int(const symbreak_attention_problem*)> entry,
                             props::ops::KernelLimits limits = {});

// A command speaking the exec protocol (see src/validate/README.md): it prints `symbreak-exec 1`
// (optionally followed by `dv=dhead` if it needs d_v == d_head and `scale=default` if it always
// scales by 1/sqrt(d_head)), then for each case directory read
// from stdin writes out.npy there and prints `ok` (or `error: ...`). Throws KernelLoadError if the
// command does not start or skips the handshake.
std::unique_ptr<Kernel> exec_kernel(const std::string& command, double timeout_seconds = 30);

// A C++ callable in this process (guards around every buffer still catch stray writes).
OpReport validate(std::function<int(const symbreak_attention_problem&)> kernel, const ValidateOptions& options = {},
                  const std::string& name = "callable");

}  // namespace symbreak
