// A child process reached through two pipes, shared by the isolated kernels and the exec protocol.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace symbreak::validate::detail {

// "SIGSEGV", "SIGABRT", ... or "signal N".
inline std::string signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    default: return "signal " + std::to_string(sig);
  }
}

// "was killed by SIGSEGV" or "exited with code 3", from a waitpid status.
inline std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return "was killed by " + signal_name(WTERMSIG(status));
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "stopped";
}

struct Child {
  pid_t pid = -1;
  int to = -1, from = -1;  // our ends: its stdin side, its stdout side

  bool running() const { return pid > 0; }
  void close_pipes() {
    if (to >= 0) ::close(to);
    if (from >= 0) ::close(from);
    to = from = -1;
  }
  // Waits for the child to end (it has closed its end) and returns its waitpid status.
  int reap() {
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
    pid = -1;
    close_pipes();
    return status;
  }
  // Kills it (and its process group when it leads one) and reaps it.
  void kill_and_reap(bool process_group) {
    if (pid > 0) ::kill(process_group ? -pid : pid, SIGKILL);
    reap();
  }
};

}  // namespace symbreak::validate::detail
