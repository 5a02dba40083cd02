#include "symbreak/validate/case_dir.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"

namespace symbreak::validate {

using nlohmann::json;

// A tensor of the case's dtype as .npy bytes: '<f4', '<f2', or bf16 bit patterns as '<u2'.
std::string tensor_npy(Dtype dtype, const std::vector<float>& x, const std::vector<std::size_t>& shape) {
  if (!is16(dtype)) return npy_bytes(x, shape);
  std::vector<std::uint16_t> bits(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) bits[i] = to_bits16(dtype, x[i]);
  return npy_bytes(bits, shape, dtype == Dtype::bf16);
}

std::vector<float> tensor_values(Dtype dtype, const NpyArray& a, const std::string& name) {
  const NpyArray::DType want = dtype == Dtype::f32 ? NpyArray::DType::f4 : dtype == Dtype::f16 ? NpyArray::DType::f2 : NpyArray::DType::u2;
  if (a.dtype != want)
    throw std::invalid_argument(name + ": must hold " +
                                (dtype == Dtype::f32   ? std::string("float32 ('<f4')")
                                 : dtype == Dtype::f16 ? std::string("float16 ('<f2')")
                                                       : std::string("bfloat16 bit patterns ('<u2')")) +
                                " for a case of dtype " + std::string(to_string(dtype)));
  if (dtype == Dtype::f32) return a.f4;
  std::vector<float> x(a.u16.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = from_bits16(dtype, a.u16[i]);
  return x;
}

void write_case_dir(const std::string& dir, const AttentionOp& op, const std::string& extra_json, const std::vector<float>& o) {
  std::filesystem::create_directories(dir);
  const auto shape = [&](int n, int d, int heads = 0) {
    return std::vector<std::size_t>{static_cast<std::size_t>(op.batch), static_cast<std::size_t>(heads ? heads : op.heads),
                                    static_cast<std::size_t>(n), static_cast<std::size_t>(d)};
  };
  write_file_atomically(dir + "/q.npy", tensor_npy(op.dtype, op.q, shape(op.n_q, op.d_head)));
  write_file_atomically(dir + "/k.npy", tensor_npy(op.dtype, op.k, shape(op.n_k, op.d_head, op.kv_heads())));
  write_file_atomically(dir + "/v.npy", tensor_npy(op.dtype, op.v, shape(op.n_k, op.d_v, op.kv_heads())));
  std::filesystem::remove(dir + "/mask.npy");
  if (!op.mask.empty())
    write_file_atomically(dir + "/mask.npy",
                          op.mask_per_head ? npy_bytes(op.mask, shape(op.n_q, op.n_k))
                                           : npy_bytes(op.mask, {static_cast<std::size_t>(op.n_q), static_cast<std::size_t>(op.n_k)}));
  std::filesystem::remove(dir + "/bias.npy");
  if (!op.bias.empty())
    write_file_atomically(dir + "/bias.npy", npy_bytes(op.bias, {static_cast<std::size_t>(op.heads), static_cast<std::size_t>(op.n_q),
                                                                 static_cast<std::size_t>(op.n_k)}));
  std::filesystem::remove(dir + "/alibi_slopes.npy");
  if (!op.alibi_slopes.empty())
    write_file_atomically(dir + "/alibi_slopes.npy", npy_bytes(op.alibi_slopes, {static_cast<std::size_t>(op.heads)}));
  std::filesystem::remove(dir + "/d_out.npy");
  std::filesystem::remove(dir + "/o.npy");
  if (op.backward()) {
    write_file_atomically(dir + "/d_out.npy", tensor_npy(op.dtype, op.d_out, shape(op.n_q, op.d_v)));
    if (!o.empty()) write_file_atomically(dir + "/o.npy", tensor_npy(op.dtype, o, shape(op.n_q, op.d_v)));
  }
  json j = json::parse(extra_json);
  j["causal"] = op.causal;
  j["scale"] = op.scale;
  j["pass"] = op.backward() ? "backward" : "forward";
  // Version 2 (attention_abi.h): written only when used, so version-1 cases read as before.
  if (op.kv_heads() != op.heads) j["heads_kv"] = op.kv_heads();
  if (op.alignment == Alignment::bottom_right) j["alignment"] = "bottom-right";
  if (op.windowed()) j["window"] = {op.window_left, op.window_right};
  if (!op.kv_lens.empty()) j["kv_lens"] = op.kv_lens;
  if (op.empty_rows) j["empty_rows"] = op.empty_rows_nan ? "nan" : "zero";
  if (op.softcap != 0) j["softcap"] = op.softcap;
  // q, k, v, d_out, o and the kernel's outputs: '<f2' for f16, bf16 bit patterns as '<u2'.
  if (op.dtype != Dtype::f32) j["dtype"] = std::string(to_string(op.dtype));
  write_file_atomically(dir + "/case.json", j.dump(2) + "\n");
}

// The dtype case.json declares (f32 when it says none, or when it is missing: the reader then names
// the missing file in its own order).
Dtype case_dtype(const std::string& dir) {
  if (!std::filesystem::exists(dir + "/case.json")) return Dtype::f32;
  json j;
  try {
    j = json::parse(read_file(dir + "/case.json"));
  } catch (const std::exception& e) {
    throw std::invalid_argument(dir + "/case.json: " + e.what());
  }
  if (!j.is_object() || !j.contains("dtype")) return Dtype::f32;
  if (j["dtype"] == "f32") return Dtype::f32;
  if (j["dtype"] == "f16") return Dtype::f16;
  if (j["dtype"] == "bf16") return Dtype::bf16;
  throw std::invalid_argument(dir + "/case.json: \"dtype\" must be \"f32\", \"f16\" or \"bf16\"");
}

OpCase read_case_dir(const std::string& dir, std::string* property) {
  const Dtype dtype = case_dtype(dir);
  const auto need4 = [](const NpyArray& a, const std::string& name) {
    if (a.shape.size() != 4) throw std::invalid_argument(name + ": must be an array [batch][heads][n][d]");
  };
  OpCase c;
  c.op.dtype = dtype;
  try {
    const NpyArray q = read_npy(dir + "/q.npy"), k = read_npy(dir + "/k.npy"), v = read_npy(dir + "/v.npy");
    need4(q, dir + "/q.npy");
    need4(k, dir + "/k.npy");
    need4(v, dir + "/v.npy");
    AttentionOp& op = c.op;
    op.batch = static_cast<int>(q.shape[0]);
    op.heads = static_cast<int>(q.shape[1]);
    op.n_q = static_cast<int>(q.shape[2]);
    op.d_head = static_cast<int>(q.shape[3]);
    op.n_k = static_cast<int>(k.shape[2]);
    op.d_v = static_cast<int>(v.shape[3]);
    if (k.shape[0] != q.shape[0] || k.shape[3] != q.shape[3] || v.shape[0] != q.shape[0] || v.shape[1] != k.shape[1] ||
        v.shape[2] != k.shape[2] || k.shape[1] == 0 || q.shape[1] % k.shape[1] != 0)
      throw std::invalid_argument(dir + ": q, k and v shapes do not fit together (k and v may have fewer heads only if they "
                                        "divide q's)");
    if (k.shape[1] != q.shape[1]) op.heads_kv = static_cast<int>(k.shape[1]);
    op.q = tensor_values(dtype, q, dir + "/q.npy");
    op.k = tensor_values(dtype, k, dir + "/k.npy");
    op.v = tensor_values(dtype, v, dir + "/v.npy");
    if (std::filesystem::exists(dir + "/mask.npy")) {
      const NpyArray m = read_npy(dir + "/mask.npy");
      const bool per_head = m.shape.size() == 4 && m.shape[0] == q.shape[0] && m.shape[1] == q.shape[1] &&
                            m.shape[2] == q.shape[2] && m.shape[3] == k.shape[2];
      if (m.dtype != NpyArray::DType::u1 ||
          !(per_head || (m.shape.size() == 2 && m.shape[0] == q.shape[2] && m.shape[1] == k.shape[2])))
        throw std::invalid_argument(dir + "/mask.npy: must be a uint8 array [n_q][n_k] or [batch][heads][n_q][n_k]");
      op.mask = m.u1;
      op.mask_per_head = per_head;
    }
    if (std::filesystem::exists(dir + "/bias.npy")) {
      const NpyArray b = read_npy(dir + "/bias.npy");
      if (b.dtype != NpyArray::DType::f4 || b.shape != std::vector<std::size_t>{q.shape[1], q.shape[2], k.shape[2]})
        throw std::invalid_argument(dir + "/bias.npy: must be a float32 array [heads][n_q][n_k]");
      op.bias = b.f4;
    }
    if (std::filesystem::exists(dir + "/alibi_slopes.npy")) {
      const NpyArray a = read_npy(dir + "/alibi_slopes.npy");
      if (a.dtype != NpyArray::DType::f4 || a.shape != std::vector<std::size_t>{q.shape[1]})
        throw std::invalid_argument(dir + "/alibi_slopes.npy: must be a float32 array [heads]");
      op.alibi_slopes = a.f4;
    }
    if (std::filesystem::exists(dir + "/d_out.npy")) {
      const NpyArray g = read_npy(dir + "/d_out.npy");
      need4(g, dir + "/d_out.npy");
      if (g.shape != std::vector<std::size_t>{q.shape[0], q.shape[1], q.shape[2], v.shape[3]})
        throw std::invalid_argument(dir + "/d_out.npy: must be [batch][heads][n_q][d_v]");
      op.d_out = tensor_values(dtype, g, dir + "/d_out.npy");
    }
  } catch (const NpyError& e) {
    throw std::invalid_argument(e.what());
  }
  json j;
  try {
    j = json::parse(read_file(dir + "/case.json"));
  } catch (const std::exception& e) {
    throw std::invalid_argument(dir + "/case.json: " + e.what());
  }
  if (!j.is_object() || !j.contains("causal") || !j["causal"].is_boolean() || !j.contains("scale") || !j["scale"].is_number())
    throw std::invalid_argument(dir + "/case.json: needs \"causal\" (true or false) and \"scale\" (a number)");
  c.op.causal = j["causal"].get<bool>();
  c.op.scale = j["scale"].get<float>();
  const auto bad = [&](const char* key, const char* want) {
    throw std::invalid_argument(dir + "/case.json: \"" + std::string(key) + "\" must be " + want);
  };
  if (j.contains("heads_kv") && (!j["heads_kv"].is_number_integer() || j["heads_kv"].get<int>() != c.op.kv_heads()))
    bad("heads_kv", "the number of heads in k.npy and v.npy");
  if (j.contains("alignment")) {
    if (j["alignment"] == "bottom-right") c.op.alignment = Alignment::bottom_right;
    else if (j["alignment"] == "top-left") c.op.alignment = Alignment::top_left;
    else bad("alignment", "\"top-left\" or \"bottom-right\"");
  }
  if (j.contains("window")) {
    const json& w = j["window"];
    if (!w.is_array() || w.size() != 2 || !w[0].is_number_integer() || !w[1].is_number_integer())
      bad("window", "[left, right] (whole numbers, -1: unbounded)");
    c.op.window_left = w[0].get<int>();
    c.op.window_right = w[1].get<int>();
  }
  if (j.contains("kv_lens")) {
    const json& l = j["kv_lens"];
    if (!l.is_array()) bad("kv_lens", "one key length per batch item");
    for (const json& x : l) {
      if (!x.is_number_integer()) bad("kv_lens", "one key length per batch item");
      c.op.kv_lens.push_back(x.get<int>());
    }
  }
  if (j.contains("empty_rows")) {
    if (j["empty_rows"] != "zero" && j["empty_rows"] != "nan") bad("empty_rows", "\"zero\" or \"nan\"");
    c.op.empty_rows = true;
    c.op.empty_rows_nan = j["empty_rows"] == "nan";
  }
  if (j.contains("softcap")) {
    if (!j["softcap"].is_number() || !(j["softcap"].get<double>() >= 0)) bad("softcap", "a number >= 0 (0: none)");
    c.op.softcap = j["softcap"].get<float>();
  }
  if (property) *property = j.value("property", "");
  if (j.contains("transform")) {
    const json& t = j["transform"];
    c.transform.permutation = t.value("permutation", std::vector<int>{});
    c.transform.position = t.value("position", 0);
    c.transform.seed = t.value("seed", std::uint64_t{0});
  }
  c.op.validate();
  return c;
}

}  // namespace symbreak::validate
