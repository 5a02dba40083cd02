// An exec-protocol kernel for the tests, with deliberate protocol faults chosen by its argument:
//   good | causal_only | no_handshake | bad_capability | exit_after_2 | wrong_shape | truncated | hang |
//   error_reply | garbage_reply | wrong_dtype
// `good` and `causal_only` serve forward and backward cases (naive kernels); `causal_only` declares
// `causal` and answers an error for anything else, as a causal-only production kernel would.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"
#include "symbreak/validate/validate.hpp"

namespace sv = symbreak::validate;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "good";
  if (mode == "no_handshake") {
    std::cout << "hello" << std::endl;
    return 0;
  }
  if (mode == "bad_capability") {
    std::cout << "symbreak-exec 1 causal sparse" << std::endl;
    return 0;
  }
  std::cout << (mode == "good"          ? "symbreak-exec 1 backward"
                : mode == "causal_only" ? "symbreak-exec 1 causal backward"
                                        : "symbreak-exec 1")
            << std::endl;
  std::string dir;
  int cases = 0;
  while (std::getline(std::cin, dir)) {
    if (mode == "exit_after_2" && ++cases > 2) return 3;
    if (mode == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
    if (mode == "error_reply") {
      std::cout << "error: this kernel refuses everything" << std::endl;
      continue;
    }
    if (mode == "garbage_reply") {
      std::cout << "done!" << std::endl;
      continue;
    }
    const sv::AttentionOp op = sv::read_case_dir(dir).op;
    if (mode == "causal_only" && (!op.causal || !op.mask.empty())) {
      std::cout << "error: only causal attention is implemented" << std::endl;
      continue;
    }
    const auto shape = [&](int n, int d) {
      return std::vector<std::size_t>{static_cast<std::size_t>(op.batch), static_cast<std::size_t>(op.heads),
                                      static_cast<std::size_t>(n), static_cast<std::size_t>(d)};
    };
    if (op.backward()) {
      const symbreak::NpyArray o = symbreak::read_npy(dir + "/o.npy");
      std::vector<float> dq(op.q_size()), dk(op.k_size()), dv(op.v_size());
      const auto b = op.backward_problem(o.f4.data(), dq.data(), dk.data(), dv.data());
      sv::naive_attention_backward(&b);
      symbreak::write_file_atomically(dir + "/d_q.npy", symbreak::npy_bytes(dq, shape(op.n_q, op.d_head)));
      symbreak::write_file_atomically(dir + "/d_k.npy", symbreak::npy_bytes(dk, shape(op.n_k, op.d_head)));
      symbreak::write_file_atomically(dir + "/d_v.npy", symbreak::npy_bytes(dv, shape(op.n_k, op.d_v)));
      std::cout << "ok" << std::endl;
      continue;
    }
    std::vector<float> out(op.out_size());
    const symbreak_attention_problem p = op.problem(out.data());
    sv::naive_attention(&p);
    std::vector<std::size_t> s = shape(op.n_q, op.d_v);
    if (mode == "wrong_shape") s.back() += 1, out.resize(out.size() + op.batch * op.heads * op.n_q);
    std::string bytes =
        mode == "wrong_dtype" ? symbreak::npy_bytes(std::vector<unsigned char>(out.size()), s) : symbreak::npy_bytes(out, s);
    if (mode == "truncated") bytes.resize(bytes.size() - 3);
    symbreak::write_file_atomically(dir + "/out.npy", bytes);
    std::cout << "ok" << std::endl;
  }
  return 0;
}
