// Runs the symbreak binary as a user would and captures its exit code and output.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace symbreak::test {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// `environment` is prefixed to the command, e.g. RC_PARAMS="seed=1".
inline CliResult run_cli(const std::string& arguments, const std::string& environment = "") {
  const std::string command = (environment.empty() ? "" : environment + " ") + std::string(SYMBREAK_CLI) + " " +
                              arguments + " 2>&1";
  CliResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  std::size_t got;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), got);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// A fresh file under the test's scratch directory.
inline std::string write_file(const std::string& name, const std::string& contents) {
  std::filesystem::create_directories(SYMBREAK_TEST_TMP);
  const std::string path = std::string(SYMBREAK_TEST_TMP) + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

}  // namespace symbreak::test
