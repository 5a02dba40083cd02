// What the validate tests share: the plugins' path, suite options, and the names of what failed.
#pragma once

#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "symbreak/rng.hpp"
#include "symbreak/validate/validate.hpp"

namespace symbreak::validate::test {

inline std::string plugin(const std::string& name) { return std::string(SYMBREAK_PLUGIN_DIR) + "/" + name + ".so"; }

inline ValidateOptions options(std::uint64_t seed, int cases) {
  ValidateOptions o;
  o.seed = seed;
  o.cases = cases;
  o.shrink_seconds = 5;
  o.failure_dir = ::testing::TempDir() + "/symbreak_validate_cases";
  return o;
}

// Options for one seed and the named properties, without shrinking or saved cases (a kill-table run).
inline ValidateOptions unshrunk_options(std::uint64_t seed, std::vector<std::string> properties, int cases = 10) {
  ValidateOptions o = options(seed, cases);
  o.properties = std::move(properties);
  o.shrink_seconds = 0;
  o.failure_dir.clear();
  return o;
}

inline std::string killers(const OpReport& r) {
  std::string out;
  for (const OpVerdict& v : r.verdicts)
    if (v.status == VerdictStatus::fail) out += (out.empty() ? "" : ", ") + v.property;
  return out;
}

inline const OpVerdict* first_failure(const OpReport& r) {
  for (const OpVerdict& v : r.verdicts)
    if (v.status == VerdictStatus::fail) return &v;
  return nullptr;
}

// An op of normal values: q, k, v and dO, scale 0.5, d_v = d_head = d.
inline AttentionOp random_op(int batch, int heads, int heads_kv, int n_q, int n_k, int d, std::uint64_t seed) {
  AttentionOp op;
  op.batch = batch;
  op.heads = heads;
  op.heads_kv = heads_kv;
  op.n_q = n_q;
  op.n_k = n_k;
  op.d_head = op.d_v = d;
  op.scale = 0.5f;
  Rng rng(seed);
  for (auto* x : {&op.q, &op.k, &op.v}) {
    x->resize(x == &op.q ? op.q_size() : x == &op.k ? op.k_size() : op.v_size());
    for (float& f : *x) f = static_cast<float>(rng.normal());
  }
  op.d_out.resize(op.out_size());
  for (float& f : op.d_out) f = static_cast<float>(rng.normal());
  return op;
}

inline std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream s(list);
  for (std::string item; std::getline(s, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

inline const OpVerdict& verdict(const OpReport& r, const std::string& property) {
  for (const OpVerdict& v : r.verdicts)
    if (v.property == property) return v;
  throw std::logic_error("no verdict for " + property);
}

// ONNX Runtime's Attention through validate/adapters/ort (the npm package must be installed there).
inline std::string ort_command(const std::string& alignment) {
  const std::string dir = std::filesystem::path(SYMBREAK_ORT_ADAPTER).parent_path().string();
  if (!std::filesystem::exists(dir + "/node_modules/onnxruntime-node"))
    throw std::runtime_error("onnxruntime-node is not installed in " + dir +
                             ": run `bash .ci/bootstrap.sh test`, or `ONNXRUNTIME_NODE_INSTALL=skip npm ci` there");
  return std::string(SYMBREAK_NODE) + " " + SYMBREAK_ORT_ADAPTER + " --causal " + alignment;
}

// A short suite run of `properties` (fault-isolation and exec tests).
inline ValidateOptions quick(const std::vector<std::string>& properties) {
  ValidateOptions o = options(1, 6);
  o.properties = properties;
  o.shrink_seconds = 1;
  return o;
}

}  // namespace symbreak::validate::test
