// Runs the symbreak binary as a user would and captures its exit code and output.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace symbreak::test {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// `environment` is prefixed to the command, e.g. RC_PARAMS="seed=1".
inline CliResult run_cli(const std::string& arguments, const std::string& environment = "") {
  const std::string command =
      (environment.empty() ? "" : environment + " ") + std::string(SYMBREAK_CLI) + " " + arguments + " 2>&1";
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

// The whole file.
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
}

// A path under the test's scratch directory (which is created).
inline std::string scratch(const std::string& name) {
  std::filesystem::create_directories(SYMBREAK_TEST_TMP);
  return std::string(SYMBREAK_TEST_TMP) + "/" + name;
}

// A fresh file under the test's scratch directory.
inline std::string write_file(const std::string& name, const std::string& contents) {
  std::filesystem::create_directories(SYMBREAK_TEST_TMP);
  const std::string path = std::string(SYMBREAK_TEST_TMP) + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

// A bad-input test: the command must exit 2 and its output must mention `mention`.
inline void expect_bad_input(const std::string& args, const std::string& mention) {
  const CliResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr(mention)) << args;
}

}  // namespace symbreak::test
