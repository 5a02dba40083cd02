// An exec-protocol kernel for the tests, with deliberate protocol faults chosen by its argument:
//   good | no_handshake | exit_after_2 | wrong_shape | truncated | hang | error_reply | garbage_reply | wrong_dtype
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "symbreak/attention_op.hpp"
#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"
#include "symbreak/properties/attention_ops.hpp"

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "good";
  if (mode == "no_handshake") {
    std::cout << "hello" << std::endl;
    return 0;
  }
  std::cout << "symbreak-exec 1" << std::endl;
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
    const symbreak::AttentionOp op = symbreak::props::ops::read_case_dir(dir).op;
    std::vector<float> out(op.out_size());
    const symbreak_attention_problem p = op.problem(out.data());
    symbreak::naive_attention(&p);
    std::vector<std::size_t> shape{static_cast<std::size_t>(op.batch), static_cast<std::size_t>(op.heads),
                                   static_cast<std::size_t>(op.n_q), static_cast<std::size_t>(op.d_v)};
    if (mode == "wrong_shape") shape.back() += 1, out.resize(out.size() + op.batch * op.heads * op.n_q);
    std::string bytes = mode == "wrong_dtype" ? symbreak::npy_bytes(std::vector<unsigned char>(out.size()), shape)
                                              : symbreak::npy_bytes(out, shape);
    if (mode == "truncated") bytes.resize(bytes.size() - 3);
    symbreak::write_file_atomically(dir + "/out.npy", bytes);
    std::cout << "ok" << std::endl;
  }
  return 0;
}
