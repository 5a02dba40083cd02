// symbreak validate: every mutant is rejected (and we print which property killed it), every correct
// kernel passes over many seeds, faults are isolated, and the exec protocol's errors are named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "symbreak/validate.hpp"

namespace symbreak {
namespace {

using ::testing::HasSubstr;
using props::ops::OpVerdict;

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream s(list);
  for (std::string item; std::getline(s, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string plugin(const std::string& name) { return std::string(SYMBREAK_PLUGIN_DIR) + "/" + name + ".so"; }

ValidateOptions options(std::uint64_t seed, int cases) {
  ValidateOptions o;
  o.seed = seed;
  o.cases = cases;
  o.shrink_seconds = 5;
  o.failure_dir = ::testing::TempDir() + "/symbreak_validate_cases";
  return o;
}

std::string killers(const OpReport& r) {
  std::string out;
  for (const OpVerdict& v : r.verdicts)
    if (v.status == "FAIL") out += (out.empty() ? "" : ", ") + v.property;
  return out;
}

const OpVerdict* first_failure(const OpReport& r) {
  for (const OpVerdict& v : r.verdicts)
    if (v.status == "FAIL") return &v;
  return nullptr;
}

// ---- The mutation zoo --------------------------------------------------------------------------

class Mutant : public ::testing::TestWithParam<std::string> {};

TEST_P(Mutant, IsRejected) {
  auto kernel = plugin_kernel(plugin("mutant_" + GetParam()), 10);
  const OpReport r = props::ops::run_op_suite(*kernel, options(1, 15));
  ASSERT_FALSE(r.passed()) << "mutant " << GetParam() << " survived";
  const OpVerdict* v = first_failure(r);
  std::printf("[ killed   ] %-22s by %s; first: %s on %s\n", GetParam().c_str(), killers(r).c_str(),
              v->message.c_str(), v->shape.c_str());
}

INSTANTIATE_TEST_SUITE_P(Zoo, Mutant, ::testing::ValuesIn(split(SYMBREAK_MUTANTS)));

// ---- Correct kernels ---------------------------------------------------------------------------

struct Correct {
  std::string name;
  std::function<std::unique_ptr<Kernel>()> make;
};

std::vector<Correct> correct_kernels() {
  std::vector<Correct> out;
  for (const std::string& name : {"correct_naive", "correct_online"})
    out.push_back({name, [name] { return plugin_kernel(plugin(name), 20); }});
  for (const std::string& name : builtin_kernel_names()) {
    if (name == "tiled:BQ:BK") {
      for (const char* blocks : {"tiled:1:1", "tiled:5:3", "tiled:64:128"})
        out.push_back({blocks, [blocks] { return builtin_kernel(blocks, 20); }});
    } else {
      out.push_back({name, [name] { return builtin_kernel(name, 20); }});
    }
  }
  out.push_back({"exec_stub", [] { return exec_kernel(std::string(SYMBREAK_EXEC_STUB) + " good", 20); }});
  if (std::system("/usr/bin/python3 -c 'import torch, numpy' > /dev/null 2>&1") == 0)
    for (const char* mode : {"functional", "mha"})
      out.push_back({std::string("pytorch_") + mode, [mode] {
                       return exec_kernel(std::string("/usr/bin/python3 ") + SYMBREAK_TORCH_ADAPTER + " --mode " + mode, 60);
                     }});
  return out;
}

class CorrectKernel : public ::testing::TestWithParam<Correct> {};

TEST_P(CorrectKernel, PassesOverManySeeds) {
  auto kernel = GetParam().make();
  for (std::uint64_t seed : {1, 2, 3, 4}) {
    const OpReport r = props::ops::run_op_suite(*kernel, options(100 + seed, 12));
    EXPECT_TRUE(r.passed()) << GetParam().name << " failed " << killers(r) << " with seed " << 100 + seed << ": "
                            << (first_failure(r) ? first_failure(r)->message + " on " + first_failure(r)->shape : "");
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, CorrectKernel, ::testing::ValuesIn(correct_kernels()), [](const auto& info) {
  std::string n = info.param.name;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

// ---- Fault isolation ---------------------------------------------------------------------------

ValidateOptions quick(const std::vector<std::string>& properties) {
  ValidateOptions o = options(1, 6);
  o.properties = properties;
  o.shrink_seconds = 1;
  return o;
}

TEST(FaultIsolation, CrashesAbortsAndRefusalsFailTheCaseNotTheValidator) {
  struct Expect {
    const char* plugin;
    const char* message;
  };
  for (const Expect& e : {Expect{"faulty_segfault", "crashed: SIGSEGV"}, Expect{"faulty_abort", "crashed: SIGABRT"},
                          Expect{"faulty_nonzero_return", "returned 7"},
                          Expect{"faulty_wrong_abi", "ABI version 2 (expected 1)"},
                          Expect{"faulty_missing_symbol", "does not export symbreak_attention_forward"}}) {
    auto kernel = plugin_kernel(plugin(e.plugin), 10);
    const OpReport r = props::ops::run_op_suite(*kernel, quick({"REFERENCE", "HEADS", "BATCH"}));
    EXPECT_FALSE(r.passed()) << e.plugin;
    ASSERT_EQ(r.verdicts.size(), 3u) << e.plugin << ": the validator must survive every case";
    const OpVerdict* v = first_failure(r);
    ASSERT_NE(v, nullptr);
    EXPECT_THAT(v->message, HasSubstr(e.message)) << e.plugin;
    EXPECT_FALSE(v->shape.empty()) << "the failure names its case";
  }
}

TEST(FaultIsolation, HangsTimeOut) {
  auto kernel = plugin_kernel(plugin("faulty_hang"), 0.3);
  const OpReport r = props::ops::run_op_suite(*kernel, quick({"HEADS"}));
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(first_failure(r)->message, HasSubstr("timed out"));
}

TEST(FaultIsolation, UnloadableLibrariesAreInputErrors) {
  EXPECT_THROW(plugin_kernel("/nonexistent/libkernel.so"), KernelLoadError);
  const std::string text = ::testing::TempDir() + "/not_a_library.so";
  std::FILE* f = std::fopen(text.c_str(), "w");
  std::fputs("not an ELF file", f);
  std::fclose(f);
  try {
    plugin_kernel(text);
    FAIL() << "a text file loaded as a plugin";
  } catch (const KernelLoadError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot load"));
  }
}

TEST(FaultIsolation, StrayWritesAreCaught) {
  for (const char* name : {"mutant_out_of_bounds_write", "mutant_input_write"}) {
    auto kernel = plugin_kernel(plugin(name), 10);
    const OpReport r = props::ops::run_op_suite(*kernel, quick({"REFERENCE"}));
    ASSERT_FALSE(r.passed());
    EXPECT_THAT(first_failure(r)->message, HasSubstr("wrote outside its output")) << name;
  }
}

// ---- The exec protocol -------------------------------------------------------------------------

TEST(ExecProtocol, FaultsAreNamedPerCase) {
  struct Expect {
    const char* mode;
    const char* message;
  };
  for (const Expect& e : {Expect{"exit_after_2", "the command exited with code 3"},
                          Expect{"wrong_shape", "(expected ["}, Expect{"truncated", "truncated"},
                          Expect{"error_reply", "error: this kernel refuses everything"},
                          Expect{"garbage_reply", "unexpected answer \"done!\""}, Expect{"wrong_dtype", "dtype"}}) {
    auto kernel = exec_kernel(std::string(SYMBREAK_EXEC_STUB) + " " + e.mode, 10);
    const OpReport r = props::ops::run_op_suite(*kernel, quick({"REFERENCE", "HEADS"}));
    ASSERT_FALSE(r.passed()) << e.mode;
    EXPECT_THAT(first_failure(r)->message, HasSubstr(e.message)) << e.mode;
  }
  auto hang = exec_kernel(std::string(SYMBREAK_EXEC_STUB) + " hang", 0.5);
  const OpReport r = props::ops::run_op_suite(*hang, quick({"REFERENCE"}));
  EXPECT_THAT(first_failure(r)->message, HasSubstr("timed out"));
}

TEST(ExecProtocol, StartupErrorsAreInputErrors) {
  try {
    exec_kernel(std::string(SYMBREAK_EXEC_STUB) + " no_handshake", 5);
    FAIL();
  } catch (const KernelLoadError& e) {
    EXPECT_THAT(e.what(), HasSubstr("instead of the handshake"));
  }
  try {
    exec_kernel("/nonexistent/kernel-command --flag", 5);
    FAIL();
  } catch (const KernelLoadError& e) {
    EXPECT_THAT(e.what(), HasSubstr("exited with code 127"));
    EXPECT_THAT(e.what(), HasSubstr("not found"));
  }
}

// ---- Counterexamples ---------------------------------------------------------------------------

TEST(Counterexamples, AreShrunkSavedAndReplay) {
  auto kernel = plugin_kernel(plugin("mutant_head_mixup"), 10);
  ValidateOptions o = options(3, 20);
  o.properties = {"REFERENCE"};
  const OpReport r = props::ops::run_op_suite(*kernel, o);
  const OpVerdict* v = first_failure(r);
  ASSERT_NE(v, nullptr);
  // A head mix-up needs two heads and two keys (with one key every softmax weight is 1) and nothing more.
  EXPECT_THAT(v->shape, HasSubstr("b=1 h=2 n_q=")) << v->shape;
  EXPECT_THAT(v->shape, HasSubstr("n_k=2 d=1 d_v=1")) << v->shape;
  ASSERT_FALSE(v->counterexample_dir.empty());
  for (const char* file : {"q.npy", "k.npy", "v.npy", "case.json"})
    EXPECT_TRUE(std::filesystem::exists(v->counterexample_dir + "/" + file)) << file;
  EXPECT_EQ(v->replay, "symbreak validate --plugin " + plugin("mutant_head_mixup") + " --replay " + v->counterexample_dir);
  const OpReport again = props::ops::replay_op_case(*kernel, v->counterexample_dir, o);
  ASSERT_EQ(again.verdicts.size(), 1u);
  EXPECT_EQ(again.verdicts[0].status, "FAIL");
  EXPECT_EQ(again.verdicts[0].message, v->message);
  auto good = builtin_kernel("naive");
  EXPECT_TRUE(props::ops::replay_op_case(*good, v->counterexample_dir, o).passed());
}

// ---- The C++ API -------------------------------------------------------------------------------

TEST(CppApi, ValidatesACallable) {
  ValidateOptions o = options(5, 8);
  o.properties = {"REFERENCE", "CAUSAL", "MASK"};
  EXPECT_TRUE(validate([](const symbreak_attention_problem& p) { return naive_attention(&p); }, o).passed());
  const OpReport bad = validate(
      [](const symbreak_attention_problem& p) {
        const int rc = naive_attention(&p);
        p.out[0] += 1e-3f;  // a bug in one element
        return rc;
      },
      o, "off-by-a-little");
  EXPECT_FALSE(bad.passed());
  EXPECT_THAT(first_failure(bad)->element.text(), HasSubstr("batch 0, head 0, row 0, column 0"));
}

}  // namespace
}  // namespace symbreak
