// libFuzzer target for the strict .npy reader: any input must either parse or raise NpyError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "symbreak/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const symbreak::NpyArray a = symbreak::parse_npy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    using D = symbreak::NpyArray::DType;
    const std::size_t held = a.dtype == D::f4 ? a.f4.size() : a.dtype == D::u1 ? a.u1.size() : a.u16.size();
    if (a.elements() != held) __builtin_trap();
  } catch (const symbreak::NpyError&) {}
  return 0;
}
