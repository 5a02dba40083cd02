// A case directory: the exec protocol's files, and a saved counterexample that replays.
//   q.npy, k.npy, v.npy   float32 [batch][heads][n][d]
//   mask.npy              optional uint8 [n_q][n_k], nonzero = may attend
//   d_out.npy, o.npy      backward cases: float32 [batch][heads][n_q][d_v] (dL/dO and the forward output)
//   case.json             {"causal": bool, "scale": number, "pass": "forward" | "backward", ...}; counterexamples
//                         add the property, the transformation, the message and the element
#pragma once

#include <string>
#include <vector>

#include "symbreak/validate/properties.hpp"

namespace symbreak::validate {

// Writes the op (and, for a backward case, `o`) into a directory, atomically per file.
void write_case_dir(const std::string& dir, const AttentionOp& op, const std::string& extra_json = "{}",
                    const std::vector<float>& o = {});
// Reads a case directory; throws std::invalid_argument naming the file and the problem.
OpCase read_case_dir(const std::string& dir, std::string* property = nullptr);

}  // namespace symbreak::validate
