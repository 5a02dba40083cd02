// A case directory: the exec protocol's files, and a saved counterexample that replays.
//   q.npy, k.npy, v.npy   [batch][heads][n][d] of the case's dtype: float32 '<f4', f16 '<f2', bf16 as its
//                         bit patterns '<u2' (NumPy has no bfloat16: view them with .view(torch.bfloat16))
//   mask.npy              optional uint8 [n_q][n_k], nonzero = may attend
//   bias.npy, alibi_slopes.npy   optional float32 [heads][n_q][n_k] / [heads] (float32 in every dtype)
//   d_out.npy, o.npy      backward cases: [batch][heads][n_q][d_v] of the dtype (dL/dO and the forward output)
//   case.json             {"causal": bool, "scale": number, "pass": "forward" | "backward", "dtype": "f16" | "bf16"
//                         (absent: f32), ...}; counterexamples add the property, the transformation, the
//                         message and the element
#pragma once

#include <string>
#include <vector>

#include "symbreak/npy.hpp"
#include "symbreak/validate/properties.hpp"

namespace symbreak::validate {

// Writes the op (and, for a backward case, `o`) into a directory, atomically per file.
void write_case_dir(const std::string& dir, const AttentionOp& op, const std::string& extra_json = "{}",
                    const std::vector<float>& o = {});
// Reads a case directory; throws std::invalid_argument naming the file and the problem.
OpCase read_case_dir(const std::string& dir, std::string* property = nullptr);
// A tensor of `dtype` as .npy bytes, and back (the exec protocol's outputs are read with it; throws
// std::invalid_argument naming `name` when the file's dtype is not the case's).
std::string tensor_npy(Dtype dtype, const std::vector<float>& x, const std::vector<std::size_t>& shape);
std::vector<float> tensor_values(Dtype dtype, const NpyArray& a, const std::string& name);

}  // namespace symbreak::validate
