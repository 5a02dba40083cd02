// The implementation under test: its forward pass, optionally its backward pass, and the region of
// the op it supports. Plugins, built-ins and exec commands (validate.hpp) and C++ callables all
// present this interface.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "symbreak/validate/capabilities.hpp"
#include "symbreak/validate/op.hpp"

namespace symbreak::validate {

// What the kernel under test did with one call.
struct CallResult {
  enum class Status {
    ok,
    returned_error,   // the kernel returned nonzero (or answered "error: ...")
    crashed,          // the process died (signal or exit)
    timed_out,        // per-call timeout
    load_error,       // library, symbol or ABI version problem (reported for every case)
    guard_violation,  // wrote outside its outputs, modified an input, or left an output unwritten
    bad_output,       // exec protocol: missing, malformed or wrongly shaped output, or an unexpected answer
    unsupported,      // the kernel has no backward pass
  };
  Status status = Status::ok;
  std::string message;            // "SIGSEGV", "returned 3", "wrote 2 floats after out", ...
  std::vector<float> out;         // forward: O
  std::vector<float> dq, dk, dv;  // backward
  bool ok() const { return status == Status::ok; }
};
std::string_view to_string(CallResult::Status status);

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual CallResult forward(const AttentionOp& op) = 0;
  // `o` is the forward output the backward problem carries (the validator's float32 reference).
  virtual CallResult backward(const AttentionOp& op, const std::vector<float>& o);
  virtual std::string name() const = 0;
  // Flags that select this kernel again on the command line, for replay lines ("--plugin x.so").
  virtual std::string cli_flags() const = 0;
  // The region the kernel declares (plugins: symbreak_attention_capabilities; exec: the handshake).
  virtual Capabilities declared() const { return {}; }
  // The region the validator uses: the declared one, unless overridden (--supports).
  Capabilities capabilities() const { return override_ ? *override_ : declared(); }
  void override_capabilities(const Capabilities& c) { override_ = c; }

 private:
  std::optional<Capabilities> override_;
};

// A C++ callable in this process, with the same guards around every buffer.
class CallableKernel final : public Kernel {
 public:
  using Forward = std::function<int(const symbreak_attention_problem&)>;
  using Backward = std::function<int(const symbreak_attention_backward_problem&)>;
  CallableKernel(std::string name, Forward forward, Backward backward = {}, Capabilities caps = {}, std::string cli_flags = "");
  CallResult forward(const AttentionOp& op) override;
  CallResult backward(const AttentionOp& op, const std::vector<float>& o) override;
  std::string name() const override { return name_; }
  std::string cli_flags() const override { return flags_; }
  Capabilities declared() const override { return caps_; }

 private:
  std::string name_;
  Forward forward_;
  Backward backward_;
  Capabilities caps_;
  std::string flags_;
};

// A C++ callable speaking the version-2 problem (grouped heads, alignment, windows, lengths, empty
// rows, strides), with the same guards.
class CallableKernelV2 final : public Kernel {
 public:
  using Forward = std::function<int(const symbreak_attention_problem_v2&)>;
  using Backward = std::function<int(const symbreak_attention_backward_problem_v2&)>;
  CallableKernelV2(std::string name, Forward forward, Backward backward = {}, Capabilities caps = {}, std::string cli_flags = "");
  CallResult forward(const AttentionOp& op) override;
  CallResult backward(const AttentionOp& op, const std::vector<float>& o) override;
  std::string name() const override { return name_; }
  std::string cli_flags() const override { return flags_; }
  Capabilities declared() const override { return caps_; }

 private:
  std::string name_;
  Forward forward_;
  Backward backward_;
  Capabilities caps_;
  std::string flags_;
};

}  // namespace symbreak::validate
