// libFuzzer target for the strict .npy reader: any input must either parse or raise NpyError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "symbreak/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const symbreak::NpyArray a = symbreak::parse_npy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    if (a.elements() != (a.dtype == symbreak::NpyArray::DType::f4 ? a.f4.size() : a.u1.size())) __builtin_trap();
  } catch (const symbreak::NpyError&) {}
  return 0;
}
