// A small, strict NumPy .npy reader and writer: dtypes '<f4' (float32), '|u1' (uint8), and the two
// 16-bit ones kept as raw bit patterns: '<f2' (IEEE binary16) and '<u2' (uint16; NumPy has no bfloat16,
// so bf16 tensors travel as their bit patterns), C order,
// format versions 1.0 and 2.0. Anything else is rejected with a message naming the file and the
// problem. Self-contained (standard library only) so the fuzz target can build it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace symbreak {

class NpyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct NpyArray {
  enum class DType { f4, u1, f2, u2 };
  DType dtype = DType::f4;
  std::vector<std::size_t> shape;
  std::vector<float> f4;          // dtype f4
  std::vector<unsigned char> u1;  // dtype u1
  std::vector<std::uint16_t> u16;  // dtypes f2 and u2: the raw 16-bit patterns
  std::size_t elements() const;
};

// Parses a whole .npy file held in memory. `name` appears in error messages. Throws NpyError.
NpyArray parse_npy(std::string_view bytes, const std::string& name);
NpyArray read_npy(const std::string& path);  // throws NpyError (also for unreadable files)

std::string npy_bytes(const std::vector<float>& values, const std::vector<std::size_t>& shape);
std::string npy_bytes(const std::vector<unsigned char>& values, const std::vector<std::size_t>& shape);
// 16-bit patterns as '<f2' (binary16) or, with as_uint16, '<u2' (bfloat16 bit patterns).
std::string npy_bytes(const std::vector<std::uint16_t>& bits, const std::vector<std::size_t>& shape, bool as_uint16);
// Written only (training traces: token ids and per-step scalars); the reader keeps its two dtypes.
std::string npy_bytes(const std::vector<std::int32_t>& values, const std::vector<std::size_t>& shape);
std::string npy_bytes(const std::vector<double>& values, const std::vector<std::size_t>& shape);

}  // namespace symbreak
