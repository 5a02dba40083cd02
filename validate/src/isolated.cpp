// Kernels in a child process: a plugin is dlopen'd only there, so whatever it does (crash, abort, hang,
// stray writes) cannot take the validator down. Buffers live in shared memory laid out with guard
// regions (guards.hpp); one request at a time travels over a pipe.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "child.hpp"
#include "symbreak/validate/guards.hpp"
#include "symbreak/validate/validate.hpp"

namespace symbreak::validate {
namespace {

using Status = CallResult::Status;
using detail::Child;
using detail::describe_exit;
using detail::signal_name;

// The request the parent sends: the op's shape and where its buffers are in the arena.
struct Request {
  int backward;  // 0: forward, 1: backward
  int batch, heads, n_q, n_k, d_head, d_v, causal, has_mask;
  float scale;
  std::size_t q, k, v, mask, out, d_out, d_q, d_k, d_v_offset;
  // Version 2: the problem as the parent built it, its pointers as offsets into the arena.
  int v2;
  symbreak_attention_problem_v2 problem;
};

// What the child reports after loading: whether it can serve, and what the kernel declares.
struct Handshake {
  int status;  // 0 ok, 1 cannot load, 2 missing symbol, 3 wrong ABI version, 4 capabilities failed
  int has_backward;
  symbreak_attention_caps caps;
  int has_v2;         // serves version-2 problems
  unsigned features;  // SYMBREAK_FEATURE_* (version 2)
  char message[480];  // fixed size: the handshake crosses the process boundary by value
};

// Sets the handshake's status and message; a message longer than the buffer is cut, never overrun.
template <typename... Args>
void fail_handshake(Handshake& h, int status, fmt::format_string<Args...> format, Args&&... args) {
  h.status = status;
  const auto end = fmt::format_to_n(h.message, sizeof h.message - 1, format, std::forward<Args>(args)...);
  *(end.out) = '\0';
}

constexpr std::size_t kArenaBytes = std::size_t(1) << 31;  // reserved, not committed (MAP_NORESERVE)

bool write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Reads exactly n bytes, waiting at most `timeout_ms` in total (-1: forever). Returns 1 on success,
// 0 on end of file, -1 on timeout, -2 on error.
int read_all(int fd, void* data, std::size_t n, int timeout_ms) {
  char* p = static_cast<char*>(data);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (n > 0) {
    int wait = -1;
    if (timeout_ms >= 0) {
      wait = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (wait < 0) return -1;
    }
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, wait);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return -1;
    if (ready < 0) return -2;
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return 0;
    if (r < 0) return -2;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return 1;
}

class IsolatedKernel final : public Kernel {
 public:
  IsolatedKernel(std::string name, std::string flags, std::string plugin_path, BuiltinKernel builtin, double timeout)
      : name_(std::move(name)),
        flags_(std::move(flags)),
        path_(std::move(plugin_path)),
        builtin_(std::move(builtin)),
        timeout_ms_(static_cast<int>(timeout * 1000)) {
    ::signal(SIGPIPE, SIG_IGN);  // a dead child must not kill the validator through its pipe
    void* arena = ::mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (arena == MAP_FAILED)
      throw std::runtime_error("cannot map shared memory for the kernel: " + std::string(std::strerror(errno)));
    arena_ = static_cast<float*>(arena);
    start();
  }
  ~IsolatedKernel() override {
    stop();
    ::munmap(arena_, kArenaBytes);
  }

  std::string name() const override { return name_; }
  std::string cli_flags() const override { return flags_; }
  Capabilities declared() const override { return declared_; }
  const std::string& load_error() const { return load_error_; }
  int load_status() const { return load_status_; }

  CallResult forward(const AttentionOp& op) override {
    AttentionOp forward_op = op;
    forward_op.d_out.clear();
    return call(forward_op, {});
  }

  CallResult backward(const AttentionOp& op, const std::vector<float>& o) override {
    if (load_error_.empty() && !declared_.backward) return Kernel::backward(op, o);
    return call(op, o);
  }

 private:
  CallResult call(const AttentionOp& op, const std::vector<float>& o) {
    CallResult r;
    if (!load_error_.empty()) {
      r.status = Status::load_error;
      r.message = load_error_;
      return r;
    }
    if (!has_v2_ && op.uses_v2()) {
      r.status = Status::returned_error;
      r.message = "this case needs the version-2 ABI (" + v2_words_of(op) +
                  "), and the kernel exports only version-1 functions; do not declare these words for it";
      return r;
    }
    const GuardedLayout layout(op, has_v2_ && declared_.layout_bnhd ? Layout::bnhd : Layout::bhnd);
    if (layout.total * sizeof(float) > kArenaBytes) {
      r.status = Status::returned_error;
      r.message = "case too large for the shared arena";
      return r;
    }
    if (!child_.running()) start();
    if (!load_error_.empty()) return call(op, o);
    fill_guarded(arena_, layout, op, o);
    Request req{};
    req.backward = layout.backward ? 1 : 0;
    req.batch = op.batch;
    req.heads = op.heads;
    req.n_q = op.n_q;
    req.n_k = op.n_k;
    req.d_head = op.d_head;
    req.d_v = op.d_v;
    req.causal = op.causal ? 1 : 0;
    req.has_mask = op.mask.empty() ? 0 : 1;
    req.scale = op.scale;
    req.q = layout.at("q").offset;
    req.k = layout.at("k").offset;
    req.v = layout.at("v").offset;
    req.mask = layout.mask;
    req.out = layout.at(layout.backward ? "o" : "out").offset;
    if (layout.backward) {
      req.d_out = layout.at("d_out").offset;
      req.d_q = layout.at("d_q").offset;
      req.d_k = layout.at("d_k").offset;
      req.d_v_offset = layout.at("d_v").offset;
    }
    req.v2 = has_v2_ ? 1 : 0;
    if (has_v2_) {
      // The child was forked after the arena was mapped, so the arena has the same address there.
      req.problem = guarded_problem_v2(arena_, layout, op);
    }
    int code = 0;
    if (!write_all(child_.to, &req, sizeof req)) return died(r);
    const int got = read_all(child_.from, &code, sizeof code, timeout_ms_);
    if (got == -1) {
      stop();
      r.status = Status::timed_out;
      r.message = "no answer within " + std::to_string(timeout_ms_ / 1000.0).substr(0, 5) + " s (killed)";
      return r;
    }
    if (got <= 0) return died(r);
    if (code != 0) {
      r.status = Status::returned_error;
      r.message = std::string(layout.backward ? "symbreak_attention_backward" : "symbreak_attention_forward") + " returned " +
                  std::to_string(code);
      return r;
    }
    if (std::string bad = check_guarded(arena_, layout, op, o); !bad.empty()) {
      r.status = Status::guard_violation;
      r.message = bad;
      return r;
    }
    if (layout.backward) {
      r.dq = read_output(arena_, layout, "d_q");
      r.dk = read_output(arena_, layout, "d_k");
      r.dv = read_output(arena_, layout, "d_v");
    } else {
      r.out = read_output(arena_, layout, "out");
    }
    return r;
  }

  CallResult& died(CallResult& r) {
    const int status = child_.reap();
    r.status = Status::crashed;
    r.message = WIFSIGNALED(status) ? signal_name(WTERMSIG(status)) : describe_exit(status);
    return r;
  }

  void stop() { child_.kill_and_reap(false); }

  void start() {
    int down[2], up[2];
    if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0)
      throw std::runtime_error("cannot create pipes for the kernel process");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("cannot fork the kernel process");
    if (pid == 0) {
      ::close(down[1]);
      ::close(up[0]);
      child(down[0], up[1]);  // never returns
    }
    ::close(down[0]);
    ::close(up[1]);
    child_ = {pid, down[1], up[0]};
    Handshake h{};
    const int got = read_all(child_.from, &h, sizeof h, 30000);
    if (got != 1) {
      if (got == -1) ::kill(child_.pid, SIGKILL);
      const int status = child_.reap();
      load_status_ = 2;
      load_error_ = got == -1
                        ? "the kernel process did not start within 30 s"
                        : "the kernel process " + describe_exit(status) + " while loading (before reporting its ABI version)";
      return;
    }
    load_status_ = h.status;
    has_v2_ = h.has_v2 != 0;
    symbreak_attention_caps_v2 caps{};
    caps.v1 = h.caps;
    caps.features = h.features;
    try {
      declared_ = Capabilities::from_abi_v2(caps, h.has_backward != 0);
    } catch (const std::invalid_argument& e) {  // a contradictory declaration (two dtypes)
      load_status_ = 2;
      load_error_ = e.what();
      stop();
      return;
    }
    if (path_.empty()) {  // a built-in declares in C++, with the words the version-1 caps struct cannot carry
      const Capabilities b = builtin_.capabilities;
      declared_.deterministic = b.deterministic;
      declared_.masked_finite = b.masked_finite;
    }
    if (h.status != 0) {
      load_error_ = h.message;
      stop();
    }
  }

  [[noreturn]] void child(int in, int out) {
    const int devnull = ::open("/dev/null", O_WRONLY);  // a kernel's own printing stays out of the report
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    Handshake h{};
    BuiltinKernel kernel = builtin_;
    if (path_.empty()) {
      const Capabilities& c = builtin_.capabilities;
      h.caps.mask_modes = (c.mask_none ? SYMBREAK_MASK_NONE : 0u) | (c.mask_causal ? SYMBREAK_MASK_CAUSAL : 0u) |
                          (c.mask_explicit ? SYMBREAK_MASK_EXPLICIT : 0u);
      h.caps.cross = c.cross;
      h.caps.any_scale = c.any_scale;
      h.caps.dv_differs = c.dv_differs;
      h.caps.max_batch = c.max_batch;
      h.caps.max_heads = c.max_heads;
      h.caps.max_n = c.max_n;
      h.caps.max_d = c.max_d;
      h.has_v2 = static_cast<bool>(kernel.forward_v2);
      h.has_backward = h.has_v2 ? static_cast<bool>(kernel.backward_v2) : static_cast<bool>(kernel.backward);
      h.features = h.has_v2 ? c.features() : 0u;
    } else {
      h.caps = Capabilities::abi_defaults();
      void* lib = ::dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        const char* why = ::dlerror();
        fail_handshake(h, 1, "cannot load {}: {}", path_, why ? why : "dlopen gave no reason");
      } else {
        auto version = reinterpret_cast<int (*)()>(::dlsym(lib, "symbreak_attention_abi_version"));
        auto forward = reinterpret_cast<int (*)(const symbreak_attention_problem*)>(::dlsym(lib, "symbreak_attention_forward"));
        auto backward =
            reinterpret_cast<int (*)(const symbreak_attention_backward_problem*)>(::dlsym(lib, "symbreak_attention_backward"));
        auto capabilities = reinterpret_cast<int (*)(symbreak_attention_caps*)>(::dlsym(lib, "symbreak_attention_capabilities"));
        auto forward_v2 =
            reinterpret_cast<int (*)(const symbreak_attention_problem_v2*)>(::dlsym(lib, "symbreak_attention_forward_v2"));
        auto backward_v2 = reinterpret_cast<int (*)(const symbreak_attention_backward_problem_v2*)>(
            ::dlsym(lib, "symbreak_attention_backward_v2"));
        auto capabilities_v2 =
            reinterpret_cast<int (*)(symbreak_attention_caps_v2*)>(::dlsym(lib, "symbreak_attention_capabilities_v2"));
        symbreak_attention_caps_v2 caps2{};
        caps2.struct_size = sizeof caps2;
        caps2.v1 = h.caps;
        if (forward_v2 && !forward) forward = reinterpret_cast<int (*)(const symbreak_attention_problem*)>(forward_v2);
        if (!version || !forward) {
          fail_handshake(h, 2, "{} does not export {}", path_,
                         !version ? "symbreak_attention_abi_version" : "symbreak_attention_forward");
        } else if (const int v = version(); v != 1 && v != 2) {
          fail_handshake(h, 3, "{} implements ABI version {} (this validator serves 1 and 2)", path_, v);
        } else if (forward_v2 && v != 2) {
          fail_handshake(h, 3,
                         "{} exports symbreak_attention_forward_v2 but its abi_version returns {} (a version-2 plugin returns 2)",
                         path_, v);
        } else if (forward_v2 && capabilities_v2 && capabilities_v2(&caps2) != 0) {
          fail_handshake(h, 4, "{}: symbreak_attention_capabilities_v2 returned an error", path_);
        } else if (forward_v2 && (caps2.features & SYMBREAK_FEATURE_ALIGN_TOP_LEFT) &&
                   (caps2.features & SYMBREAK_FEATURE_ALIGN_BOTTOM_RIGHT)) {
          fail_handshake(
              h, 4,
              "{}: symbreak_attention_capabilities_v2 declares both causal alignments (declare the one the kernel implements)",
              path_);
        } else if (!forward_v2 && capabilities && capabilities(&h.caps) != 0) {
          fail_handshake(h, 4, "{}: symbreak_attention_capabilities returned an error", path_);
        } else if (!(h.caps.mask_modes & (SYMBREAK_MASK_NONE | SYMBREAK_MASK_CAUSAL | SYMBREAK_MASK_EXPLICIT))) {
          fail_handshake(h, 4, "{}: symbreak_attention_capabilities declares no mask mode (mask_modes = {})", path_,
                         h.caps.mask_modes);
        } else if (forward_v2) {
          h.caps = caps2.v1;
          h.features = caps2.features;
          h.has_v2 = 1;
          kernel.forward_v2 = forward_v2;
          if (backward_v2) kernel.backward_v2 = backward_v2;
          h.has_backward = backward_v2 != nullptr;
          if (!(h.caps.mask_modes & (SYMBREAK_MASK_NONE | SYMBREAK_MASK_CAUSAL | SYMBREAK_MASK_EXPLICIT))) {
            fail_handshake(h, 4, "{}: symbreak_attention_capabilities_v2 declares no mask mode (mask_modes = {})", path_,
                           h.caps.mask_modes);
          }
        } else {
          kernel.forward = forward;
          if (backward) kernel.backward = backward;
          h.has_backward = backward != nullptr;
        }
      }
    }
    write_all(out, &h, sizeof h);
    if (h.status != 0) ::_exit(0);
    Request req;
    while (read_all(in, &req, sizeof req, -1) == 1) {
      if (req.v2) {
        const symbreak_attention_problem_v2 p = req.problem;  // points into the shared arena
        int code = 0;
        if (req.backward) {
          symbreak_attention_backward_problem_v2 b{};
          b.struct_size = sizeof b;
          b.forward = &p;
          b.d_out = arena_ + req.d_out;
          b.d_q = arena_ + req.d_q;
          b.d_k = arena_ + req.d_k;
          b.d_v = arena_ + req.d_v_offset;
          code = kernel.backward_v2 ? kernel.backward_v2(&b) : -1;
        } else {
          code = kernel.forward_v2(&p);
        }
        if (!write_all(out, &code, sizeof code)) break;
        continue;
      }
      symbreak_attention_problem p{};
      p.batch = req.batch;
      p.heads = req.heads;
      p.n_q = req.n_q;
      p.n_k = req.n_k;
      p.d_head = req.d_head;
      p.d_v = req.d_v;
      p.q = arena_ + req.q;
      p.k = arena_ + req.k;
      p.v = arena_ + req.v;
      p.mask = req.has_mask ? reinterpret_cast<const unsigned char*>(arena_ + req.mask) : nullptr;
      p.causal = req.causal;
      p.scale = req.scale;
      p.out = arena_ + req.out;
      int code = 0;
      if (req.backward) {
        symbreak_attention_backward_problem b{};
        b.forward = p;
        b.d_out = arena_ + req.d_out;
        b.d_q = arena_ + req.d_q;
        b.d_k = arena_ + req.d_k;
        b.d_v = arena_ + req.d_v_offset;
        code = kernel.backward ? kernel.backward(&b) : -1;
      } else {
        code = kernel.forward(&p);
      }
      if (!write_all(out, &code, sizeof code)) break;
    }
    ::_exit(0);
  }

  std::string name_, flags_, path_;
  BuiltinKernel builtin_;
  int timeout_ms_;
  float* arena_ = nullptr;
  Child child_;
  int load_status_ = 0;
  std::string load_error_;
  Capabilities declared_;
  bool has_v2_ = false;
};

}  // namespace

std::unique_ptr<Kernel> plugin_kernel(const std::string& path, double timeout) {
  if (!std::filesystem::exists(path)) throw KernelLoadError(path + ": no such file");
  auto k = std::make_unique<IsolatedKernel>(std::filesystem::path(path).filename().string(), "--plugin " + path, path,
                                            BuiltinKernel{}, timeout);
  if (k->load_status() == 1 || k->load_status() == 4) throw KernelLoadError(k->load_error());
  return k;
}

// Defined in builtins.cpp.
BuiltinKernel builtin_entry(const std::string& name);

std::unique_ptr<Kernel> builtin_kernel(const std::string& name, double timeout) {
  return std::make_unique<IsolatedKernel>(name, "--builtin " + name, "", builtin_entry(name), timeout);
}

}  // namespace symbreak::validate
