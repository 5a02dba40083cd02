// Helpers shared by the subcommands.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace symbreak::cli {

// Fails before any work when an output file could not be written (its directory is missing, or the
// path is a directory). `flag` names the option in the message.
inline void check_writable(const std::string& path, const char* flag) {
  if (path.empty()) return;
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir))
    throw std::invalid_argument(std::string(flag) + " " + path + ": the directory " + dir.string() + " does not exist");
  if (std::filesystem::is_directory(p)) throw std::invalid_argument(std::string(flag) + " " + path + ": is a directory");
}

}  // namespace symbreak::cli
