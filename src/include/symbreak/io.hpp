// File helpers shared by every writer: results are written atomically, never half-written.
#pragma once

#include <string>

namespace symbreak {

// Writes text to path through a temporary file in the same directory and a rename, so readers see
// either the old file or the complete new one. Throws std::runtime_error naming the path.
void write_file_atomically(const std::string& path, const std::string& text);

// The whole file. Throws std::runtime_error naming the path.
std::string read_file(const std::string& path);

}  // namespace symbreak
