#include "symbreak/validate/dtype.hpp"

#include <Eigen/Core>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "symbreak/attention_abi.h"

namespace symbreak::validate {

std::string_view to_string(Dtype d) {
  switch (d) {
    case Dtype::f32: return "f32";
    case Dtype::f16: return "f16";
    case Dtype::bf16: return "bf16";
  }
  return "?";
}

int abi_code(Dtype d) {
  switch (d) {
    case Dtype::f32: return SYMBREAK_DTYPE_F32;
    case Dtype::f16: return SYMBREAK_DTYPE_F16;
    case Dtype::bf16: return SYMBREAK_DTYPE_BF16;
  }
  return SYMBREAK_DTYPE_F32;
}

Dtype dtype_from_abi(int code) {
  switch (code) {
    case SYMBREAK_DTYPE_F32: return Dtype::f32;
    case SYMBREAK_DTYPE_F16: return Dtype::f16;
    case SYMBREAK_DTYPE_BF16: return Dtype::bf16;
  }
  throw std::invalid_argument("dtype " + std::to_string(code) + " is not a SYMBREAK_DTYPE_* code (0 f32, 1 f16, 2 bf16)");
}

bool is16(Dtype d) { return d != Dtype::f32; }

double unit_roundoff(Dtype d) {
  switch (d) {
    case Dtype::f32: return 0x1p-24;
    case Dtype::f16: return 0x1p-11;
    case Dtype::bf16: return 0x1p-8;
  }
  return 0x1p-24;
}

float max_finite(Dtype d) {
  switch (d) {
    case Dtype::f32: return FLT_MAX;
    case Dtype::f16: return 65504.0f;
    case Dtype::bf16: return from_bits16(Dtype::bf16, 0x7F7F);
  }
  return FLT_MAX;
}

std::uint16_t to_bits16(Dtype d, float x) {
  if (d == Dtype::f16) return Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(x));
  if (d == Dtype::bf16) return Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(x));
  throw std::logic_error("to_bits16: f32 has no 16-bit pattern");
}

float from_bits16(Dtype d, std::uint16_t bits) {
  if (d == Dtype::f16) return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
  if (d == Dtype::bf16) return static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(bits));
  throw std::logic_error("from_bits16: f32 has no 16-bit pattern");
}

float round_to(Dtype d, float x) { return d == Dtype::f32 ? x : from_bits16(d, to_bits16(d, x)); }

bool representable(Dtype d, float x) {
  if (std::isnan(x)) return true;
  const float r = round_to(d, x);
  return std::memcmp(&r, &x, sizeof r) == 0;
}

void round_in_place(Dtype d, std::vector<float>& x) {
  if (d == Dtype::f32) return;
  const float top = max_finite(d);
  for (float& v : x) {
    if (std::isfinite(v) && std::abs(v) > top) v = std::copysign(top, v);
    v = round_to(d, v);
  }
}

}  // namespace symbreak::validate
