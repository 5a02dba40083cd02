// The element types a kernel's inputs and outputs may have (`dtype=f32|f16|bf16`): float32, IEEE
// binary16 and bfloat16. Conversions round to nearest, ties to even (Eigen::half, Eigen::bfloat16).
// The validator keeps every tensor as float32 values that the dtype represents exactly, and converts
// at the kernel's boundary only, so the exact reference sees exactly what the kernel sees.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace symbreak::validate {

enum class Dtype { f32, f16, bf16 };

std::string_view to_string(Dtype d);   // "f32", "f16", "bf16"
int abi_code(Dtype d);                 // SYMBREAK_DTYPE_*
Dtype dtype_from_abi(int code);        // throws std::invalid_argument naming the code
bool is16(Dtype d);                    // f16 or bf16: two bytes per element
// The unit roundoff: 2^-24 (f32), 2^-11 (f16), 2^-8 (bf16); a correct rounding errs at most that, relatively.
double unit_roundoff(Dtype d);
float max_finite(Dtype d);             // FLT_MAX, 65504, about 3.39e38

float round_to(Dtype d, float x);       // x rounded to the dtype (±inf beyond its range, NaN stays NaN)
bool representable(Dtype d, float x);   // round_to(d, x) has x's bits (every NaN counts as representable)
std::uint16_t to_bits16(Dtype d, float x);  // the dtype's bit pattern of x (f16 or bf16; rounds)
float from_bits16(Dtype d, std::uint16_t bits);
// Rounds every element in place, saturating finite values beyond the range at ±max_finite (a case
// keeps its meaning: a large input stays a large input, not an infinity).
void round_in_place(Dtype d, std::vector<float>& x);

}  // namespace symbreak::validate
