// The exec protocol: any program, in any language, as a kernel. One persistent process reads case
// directories from stdin, one per line, writes out.npy into each and answers one line per case.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "child.hpp"
#include "symbreak/npy.hpp"
#include "symbreak/validate/validate.hpp"

namespace symbreak::validate {
namespace {

using Status = CallResult::Status;
using detail::Child;
using detail::describe_exit;
namespace fs = std::filesystem;

class ExecKernel final : public Kernel {
 public:
  ExecKernel(std::string command, double timeout) : command_(std::move(command)), timeout_ms_(static_cast<int>(timeout * 1000)) {
    ::signal(SIGPIPE, SIG_IGN);
    std::string tmpl = (fs::temp_directory_path() / "symbreak-exec-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw KernelLoadError("cannot create a working directory for the exec protocol");
    workdir_ = tmpl;
    if (std::string error = start(); !error.empty()) {
      fs::remove_all(workdir_);
      throw KernelLoadError(error);
    }
  }
  ~ExecKernel() override {
    stop();
    std::error_code ec;
    fs::remove_all(workdir_, ec);
  }

  std::string name() const override { return command_; }
  std::string cli_flags() const override { return "--exec '" + command_ + "'"; }
  Capabilities declared() const override { return caps_; }

  CallResult forward(const AttentionOp& op) override {
    AttentionOp forward_op = op;
    forward_op.d_out.clear();
    return call(forward_op, {});
  }

  CallResult backward(const AttentionOp& op, const std::vector<float>& o) override {
    if (!caps_.backward) return Kernel::backward(op, o);
    return call(op, o);
  }

 private:
  // One case through the protocol: write the directory, send its path, read the answer and the
  // output files (out.npy, or d_q.npy, d_k.npy and d_v.npy).
  CallResult call(const AttentionOp& op, const std::vector<float>& o) {
    CallResult r;
    if (!child_.running()) {
      if (std::string error = start(); !error.empty()) {
        r.status = Status::load_error;
        r.message = "restarting the command: " + error;
        return r;
      }
    }
    const std::string dir = workdir_ + "/case-" + std::to_string(++cases_);
    try {
      write_case_dir(dir, op, "{}", o);
    } catch (const std::exception& e) {
      r.status = Status::bad_output;
      r.message = std::string("cannot write the case: ") + e.what();
      return r;
    }
    const std::string line = dir + "\n";
    if (::write(child_.to, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return died(r);
    bool timed_out = false;
    const std::optional<std::string> reply = read_line(timeout_ms_, &timed_out);
    if (timed_out) {
      stop();
      r.status = Status::timed_out;
      r.message = "no answer within " + std::to_string(timeout_ms_ / 1000) + " s (killed)";
      return r;
    }
    if (!reply) return died(r);
    if (*reply != "ok") {
      r.status = reply->starts_with("error") ? Status::returned_error : Status::bad_output;
      r.message = reply->starts_with("error") ? "answered \"" + *reply + "\""
                                              : "unexpected answer \"" + reply->substr(0, 200) + "\" (expected ok or error: ...)";
      fs::remove_all(dir);
      return r;
    }
    const auto read = [&](const char* file, int rows, int cols, int heads = 0) {
      heads = heads ? heads : op.heads;
      const NpyArray a = read_npy(dir + "/" + file);
      const std::vector<std::size_t> want{static_cast<std::size_t>(op.batch), static_cast<std::size_t>(heads),
                                          static_cast<std::size_t>(rows), static_cast<std::size_t>(cols)};

      if (a.shape != want) {
        std::string have;
        for (std::size_t d : a.shape) have += (have.empty() ? "" : ", ") + std::to_string(d);
        throw NpyError(dir + "/" + file + ": shape [" + have + "] (expected [" + std::to_string(op.batch) + ", " +
                       std::to_string(heads) + ", " + std::to_string(rows) + ", " + std::to_string(cols) + "])");
      }
      try {
        return tensor_values(op.dtype, a, dir + "/" + file);
      } catch (const std::invalid_argument& e) {
        throw NpyError(e.what());
      }
    };
    try {
      if (op.backward()) {
        r.dq = read("d_q.npy", op.n_q, op.d_head);
        r.dk = read("d_k.npy", op.n_k, op.d_head, op.kv_heads());
        r.dv = read("d_v.npy", op.n_k, op.d_v, op.kv_heads());
      } else {
        r.out = read("out.npy", op.n_q, op.d_v);
      }
    } catch (const NpyError& e) {
      r.status = Status::bad_output;
      r.message = e.what();
    }
    fs::remove_all(dir);
    return r;
  }

  // Starts the command and reads its handshake; returns "" or what went wrong.
  std::string start() {
    int down[2], up[2];
    if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0) return "cannot create pipes";
    const std::string log = workdir_ + "/stderr.log";
    const pid_t pid = ::fork();
    if (pid < 0) return "cannot fork";
    if (pid == 0) {
      ::setpgid(0, 0);  // its own process group, so a timeout kills everything it started
      ::dup2(down[0], 0);
      ::dup2(up[1], 1);
      const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) ::dup2(err, 2);
      ::execl("/bin/sh", "sh", "-c", command_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(down[0]);
    ::close(up[1]);
    child_ = {pid, down[1], up[0]};
    buffer_.clear();
    bool timed_out = false;
    const std::optional<std::string> hello = read_line(std::max(timeout_ms_, 60000), &timed_out);
    if (!hello || !hello->starts_with("symbreak-exec 1")) {
      std::string why = timed_out ? "printed no handshake within " + std::to_string(std::max(timeout_ms_, 60000) / 1000) + " s"
                        : !hello  ? "ended before its handshake"
                                  : "printed \"" + hello->substr(0, 120) + "\" instead of the handshake \"symbreak-exec 1\"";
      ::kill(-child_.pid, SIGKILL);
      const int status = child_.reap();
      if (!hello && !timed_out) why = describe_exit(status) + " before printing its handshake \"symbreak-exec 1\"";
      return "the exec command `" + command_ + "` " + why + stderr_tail();
    }
    // The capability words after the version (capabilities.hpp); none: every case, forward only.
    caps_ = {};
    try {
      caps_.apply(split_words(hello->substr(std::string("symbreak-exec 1").size())), "the handshake of `" + command_ + "`");
    } catch (const std::invalid_argument& e) {
      ::kill(-child_.pid, SIGKILL);
      child_.reap();
      return e.what();
    }
    return "";
  }

  // One line of the child's stdout; nullopt at end of file (or timeout, with *timed_out set).
  std::optional<std::string> read_line(int timeout_ms, bool* timed_out) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (const std::size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      const int wait = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (wait <= 0) {
        *timed_out = true;
        return std::nullopt;
      }
      pollfd pfd{child_.from, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, wait);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) continue;
      char chunk[4096];
      const ssize_t got = ::read(child_.from, chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(got));
      if (buffer_.size() > (1 << 20)) return std::string("(more than 1 MiB without a newline)");
    }
  }

  std::string stderr_tail() const {
    std::ifstream in(workdir_ + "/stderr.log");
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    return last.empty() ? "" : " (its last stderr line: " + last.substr(0, 300) + ")";
  }

  CallResult& died(CallResult& r) {
    const int status = child_.reap();
    r.status = Status::crashed;
    r.message = "the command " + describe_exit(status) + stderr_tail();
    return r;
  }

  void stop() { child_.kill_and_reap(true); }

  std::string command_, workdir_, buffer_;
  int timeout_ms_;
  Child child_;
  std::uint64_t cases_ = 0;
  Capabilities caps_;
};

}  // namespace

std::unique_ptr<Kernel> exec_kernel(const std::string& command, double timeout) {
  return std::make_unique<ExecKernel>(command, timeout);
}

}  // namespace symbreak::validate
