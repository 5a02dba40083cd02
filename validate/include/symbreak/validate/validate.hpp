// Validating attention kernels: the kernels under test and the suite that checks them.
//
//   symbreak validate --plugin LIB.so | --exec "CMD" | --builtin NAME   (the command line)
//
//   auto kernel = symbreak::validate::plugin_kernel("libmine.so");
//   auto report = symbreak::validate::run_suite(*kernel, {});
//   auto report = symbreak::validate::validate_callable([](const symbreak_attention_problem& p) { return mine(&p); });
//
// A kernel declares the region of the op it supports (capabilities.hpp); the suite generates cases
// inside it only, forward and, when the kernel has one, backward.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "symbreak/validate/capabilities.hpp"
#include "symbreak/validate/case_dir.hpp"
#include "symbreak/validate/compare.hpp"
#include "symbreak/validate/kernel.hpp"
#include "symbreak/validate/properties.hpp"
#include "symbreak/validate/reference.hpp"
#include "symbreak/validate/report.hpp"
#include "symbreak/validate/suite.hpp"

namespace symbreak::validate {

// Thrown when a kernel cannot be used at all (a library that does not load, a command that does not
// start or skips the handshake, capabilities it cannot report). The message names the file or
// command. The CLI exits 2 on it.
class KernelLoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A plugin (dlopen'd only in a child process) or a built-in kernel, run in a child process. A crash,
// abort or hang of the kernel is a failed call; the validator restarts the child and goes on. A
// plugin's optional symbreak_attention_capabilities and symbreak_attention_backward are used when
// it exports them. `timeout` is per call.
std::unique_ptr<Kernel> plugin_kernel(const std::string& path, double timeout_seconds = 10);
std::unique_ptr<Kernel> builtin_kernel(const std::string& name, double timeout_seconds = 10);
std::vector<std::string> builtin_kernel_names();  // naive, tiled, tiled:BQ:BK, torch-* when built

struct BuiltinKernel {
  std::function<int(const symbreak_attention_problem*)> forward;
  std::function<int(const symbreak_attention_backward_problem*)> backward;  // may be empty
  Capabilities capabilities;
  // Version 2 (attention_abi.h): when set, every call goes through these instead.
  std::function<int(const symbreak_attention_problem_v2*)> forward_v2 = {};
  std::function<int(const symbreak_attention_backward_problem_v2*)> backward_v2 = {};
};
// Adds a built-in kernel (optional modules such as the libtorch kernels register themselves).
bool register_builtin_kernel(const std::string& name, BuiltinKernel kernel);

// A command speaking the exec protocol (validate/README.md): it prints `symbreak-exec 1` and its
// capability words, then serves case directories read from stdin. Throws KernelLoadError if the
// command does not start, skips the handshake, or declares an unknown capability.
std::unique_ptr<Kernel> exec_kernel(const std::string& command, double timeout_seconds = 30);

}  // namespace symbreak::validate
