// symbreak validate: every mutant (forward and backward) is rejected on every seed, every correct kernel
// passes on every seed, kernels that support only part of the op are validated inside their region
// through each interface, masked keys cannot leak into the output, libtorch's kernels run every property
// their API can express, and the C++ API validates a callable (faults and counterexamples:
// test_validate_faults.cpp; ABI version 2: test_validate_v2.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "symbreak/rng.hpp"
#include "symbreak/validate/case_dir.hpp"
#include "symbreak/validate/reference.hpp"
#include "symbreak/validate/validate.hpp"
#include "helpers.hpp"

namespace symbreak::validate {
namespace {

using namespace symbreak::validate::test;

using ::testing::HasSubstr;

// ---- The mutation zoo: rejected on 20 of 20 seeds at the default case count ---------------------

class Mutant : public ::testing::TestWithParam<std::string> {};

TEST_P(Mutant, IsRejectedOnEverySeed) {
  auto kernel = plugin_kernel(plugin("mutant_" + GetParam()), 10);
  int killed = 0;
  std::string first_killer;
  double seconds = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    ValidateOptions o = options(seed, ValidateOptions{}.cases);
    o.fail_fast = true;  // the kill rate needs one failing property, not all of them
    // A backward mutant's forward pass is the correct template: the forward properties pass on it
    // whatever the seed, so its verdict is the backward properties' (the full suite runs them after).
    // A version-2 mutant (tests/mutants/v2_template.h) plants its bug in a version-2 feature: the
    // version-1 properties pass on it, so its verdict is the version-2 properties'.
    // A dtype mutant (tests/mutants/lowp_template.h) plants its bug in the f16/bf16 arithmetic, which
    // every property sees: all of them run.
    const bool v2 = kernel->declared().uses_v2() && kernel->declared().dtype == Dtype::f32;
    for (const OpProperty& p : op_catalogue())
      if ((!GetParam().starts_with("bwd_") || p.pass == Pass::backward) && (!v2 || !p.feature.empty()))
        o.properties.emplace_back(p.name);
    o.shrink_seconds = 0;
    o.failure_dir.clear();
    const OpReport r = run_suite(*kernel, o);
    seconds += r.seconds;
    if (!r.passed()) {
      ++killed;
      if (first_killer.empty()) first_killer = killers(r) + ": " + first_failure(r)->message;
    } else {
      ADD_FAILURE() << "mutant " << GetParam() << " survived seed " << seed;
    }
  }
  std::printf("[ kill rate ] %-26s %2d/20 seeds  (%.1f s)  first: %s\n", GetParam().c_str(), killed, seconds,
              first_killer.c_str());
  EXPECT_EQ(killed, 20);
}

INSTANTIATE_TEST_SUITE_P(Zoo, Mutant, ::testing::ValuesIn(split(SYMBREAK_MUTANTS)));

// ---- Correct kernels: pass on 20 seeds, forward and backward ------------------------------------

struct Correct {
  std::string name;
  std::function<std::unique_ptr<Kernel>()> make;
};
void PrintTo(const Correct& c, std::ostream* os) { *os << c.name; }

std::vector<Correct> correct_kernels() {
  std::vector<Correct> out;
  for (const char* name :
       {"correct_naive", "correct_online", "correct_causal_only", "correct_jacobian_causal", "correct_v2", "correct_v1_frozen"})
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
  if (std::string(SYMBREAK_NODE).size())
    for (const char* a : {"top-left", "bottom-right"})
      out.push_back({std::string("onnxruntime_") + (a[0] == 't' ? "top_left" : "bottom_right"),
                     [a] { return exec_kernel(ort_command(a), 60); }});
  if (std::system("/usr/bin/python3 -c 'import torch, numpy' > /dev/null 2>&1") == 0)
    for (const char* mode : {"functional", "mha"})
      out.push_back({std::string("pytorch_") + mode, [mode] {
                       return exec_kernel(std::string("/usr/bin/python3 ") + SYMBREAK_TORCH_ADAPTER + " --mode " + mode, 60);
                     }});
  return out;
}

class CorrectKernel : public ::testing::TestWithParam<Correct> {};

TEST_P(CorrectKernel, PassesOnTwentySeedsForwardAndBackward) {
  auto kernel = GetParam().make();
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    ValidateOptions o = options(100 + seed, 6);
    o.edge_cases = seed == 1;  // deterministic: the same on every seed, so once is enough here
    const OpReport r = run_suite(*kernel, o);
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

// ---- Kernels that support only part of the op ----------------------------------------------------

// The causal-only kernel through its plugin, its exec command and a C++ callable: every property
// runs inside the region, the ones about other masks are not applicable, nothing fails.
TEST(Capabilities, CausalOnlyKernelsPassThroughEveryInterface) {
  std::vector<std::unique_ptr<Kernel>> kernels;
  kernels.push_back(plugin_kernel(plugin("correct_causal_only")));
  kernels.push_back(exec_kernel(std::string(SYMBREAK_EXEC_STUB) + " causal_only"));
  Capabilities causal;
  causal.apply({"causal"}, "test");
  kernels.push_back(std::make_unique<CallableKernel>(
      "callable causal-only", [](const symbreak_attention_problem& p) { return p.causal && !p.mask ? naive_attention(&p) : 7; },
      [](const symbreak_attention_backward_problem& b) {
        return b.forward.causal && !b.forward.mask ? naive_attention_backward(&b) : 7;
      },
      causal));
  for (auto& k : kernels) {
    const Capabilities caps = k->capabilities();
    EXPECT_TRUE(caps.mask_causal && !caps.mask_none && !caps.mask_explicit) << k->name() << ": " << caps.text();
    EXPECT_TRUE(caps.backward) << k->name();
    const OpReport r = run_suite(*k, options(7, 10));
    EXPECT_TRUE(r.passed()) << k->name() << ": " << killers(r) << " " << (first_failure(r) ? first_failure(r)->message : "");
    EXPECT_EQ(verdict(r, "MASK").status, VerdictStatus::not_applicable);
    EXPECT_THAT(verdict(r, "MASK").message, HasSubstr("not applicable: needs an explicit mask"));
    EXPECT_EQ(verdict(r, "KV-PERM").status, VerdictStatus::not_applicable);
    EXPECT_EQ(verdict(r, "BWD-MASK").status, VerdictStatus::not_applicable);
    EXPECT_EQ(verdict(r, "CAUSAL").status, VerdictStatus::pass);
    EXPECT_EQ(verdict(r, "BWD-CAUSAL").status, VerdictStatus::pass);
    EXPECT_EQ(verdict(r, "REFERENCE").region, "causal");
    EXPECT_THAT(verdict(r, "REFERENCE").skipped, ::testing::Contains(HasSubstr("none-mask cases: not supported")));
  }
  // The plugin also declared the default scale and d_v == d_head.
  const Capabilities c = kernels[0]->capabilities();
  EXPECT_FALSE(c.any_scale);
  EXPECT_FALSE(c.dv_differs);
}

TEST(Capabilities, AnErrorInsideTheDeclaredRegionFails) {
  // Claiming more than the kernel does (--supports none,causal) makes its refusals failures.
  auto kernel = plugin_kernel(plugin("correct_causal_only"));
  Capabilities wider = kernel->declared();
  wider.apply({"none", "causal"}, "--supports");
  kernel->override_capabilities(wider);
  ValidateOptions o = options(3, 10);
  o.properties = {"REFERENCE"};
  const OpReport r = run_suite(*kernel, o);
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(first_failure(r)->message, HasSubstr("returned 7"));
}

TEST(Capabilities, ARefusalNamesWhatTheCaseUsedAndTheWordsToDeclare) {
  // A kernel author's first try: a correct causal-only, square, default-scale kernel declared with
  // --supports causal alone. Its refusals must say which words were missing.
  auto kernel = plugin_kernel(plugin("correct_causal_only"));
  Capabilities caps;
  caps.apply({"causal"}, "--supports");
  kernel->override_capabilities(caps);
  bool named_scale = false, named_dv = false;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    ValidateOptions o = options(seed, 10);
    o.properties = {"REFERENCE"};
    o.shrink_seconds = 1;
    const OpReport r = run_suite(*kernel, o);
    ASSERT_FALSE(r.passed());
    const std::string& m = first_failure(r)->message;
    EXPECT_THAT(m, HasSubstr("returned 7"));
    EXPECT_THAT(m, HasSubstr("if the kernel does not support these, declare"));
    named_scale = named_scale || (m.find("(not 1/√d_head") != std::string::npos && m.find("scale=default") != std::string::npos);
    named_dv = named_dv || (m.find("≠ d_head") != std::string::npos && m.find("dv=dhead") != std::string::npos);
  }
  EXPECT_TRUE(named_scale || named_dv);
  AttentionOp op;
  op.n_q = op.n_k = 5;
  op.d_head = 5;
  op.d_v = 1;
  op.scale = 0.37f;
  const RegionHint hint = beyond_common_region(op);
  EXPECT_THAT(hint.used, HasSubstr("scale 0.37 (not 1/√d_head = 0.4472), d_v 1 ≠ d_head 5"));
  EXPECT_THAT(hint.words, HasSubstr("scale=default dv=dhead"));
}

TEST(Capabilities, AbiVersionOnePluginsKeepWorking) {
  // correct_online exports only the two functions of the first release: every case, forward only.
  auto kernel = plugin_kernel(plugin("correct_online"));
  const Capabilities c = kernel->capabilities();
  EXPECT_TRUE(c.mask_none && c.mask_causal && c.mask_explicit && c.cross && c.any_scale && c.dv_differs);
  EXPECT_FALSE(c.backward);
  const OpReport r = run_suite(*kernel, options(4, 8));
  EXPECT_TRUE(r.passed()) << killers(r);
  EXPECT_EQ(verdict(r, "REFERENCE").status, VerdictStatus::pass);
  // The 11 version-1 forward properties run; the backward ones need a backward pass, and the
  // version-2 ones a version-2 feature, so they are not applicable.
  int ran = 0;
  for (const OpVerdict& v : r.verdicts) ran += v.status != VerdictStatus::not_applicable;
  EXPECT_EQ(ran, 11);
  ValidateOptions o = options(4, 8);
  o.properties = {"BWD-REFERENCE"};
  EXPECT_EQ(run_suite(*kernel, o).verdicts[0].status, VerdictStatus::not_applicable);
}

TEST(Capabilities, WordsParseAndNameTheirErrors) {
  Capabilities c;
  c.apply(split_words("causal,none square scale=default dv=dhead backward max-n=64"), "test");
  EXPECT_TRUE(c.mask_causal && c.mask_none && !c.mask_explicit);
  EXPECT_FALSE(c.cross || c.any_scale || c.dv_differs);
  EXPECT_TRUE(c.backward);
  EXPECT_EQ(c.max_n, 64);
  EXPECT_EQ(c.words(), "none,causal square scale=default dv=dhead backward max-n=64");
  Capabilities again;
  again.apply(split_words(c.words()), "round trip");
  EXPECT_EQ(again.text(), c.text());
  try {
    c.apply({"sparse"}, "--supports");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("--supports: \"sparse\" is not a capability"));
  }
  EXPECT_THROW(c.apply({"max-n=lots"}, "--supports"), std::invalid_argument);
  EXPECT_THROW(exec_kernel(std::string(SYMBREAK_EXEC_STUB) + " bad_capability", 5), KernelLoadError);
}

TEST(Capabilities, EdgeCasesRunInEverySupportedModeBeforeTheSearch) {
  // A kernel that records the ops it is given.
  std::vector<AttentionOp> seen;
  CallableKernel k("recorder", [&seen](const symbreak_attention_problem& p) {
    AttentionOp op;
    op.causal = p.causal;
    op.n_q = p.n_q;
    if (p.mask) op.mask.assign(1, 1);
    seen.push_back(op);
    return naive_attention(&p);
  });
  ValidateOptions o = options(1, 1);
  o.properties = {"ROBUST"};
  o.failure_dir.clear();
  const OpReport r = run_suite(k, o);
  ASSERT_TRUE(r.passed()) << killers(r);
  bool causal_single = false, none_long = false, explicit_any = false;
  for (const auto& op : seen) {
    causal_single = causal_single || (op.causal && op.n_q == 1);
    none_long = none_long || (!op.causal && op.mask.empty() && op.n_q == 1024);
    explicit_any = explicit_any || (!op.causal && !op.mask.empty());
  }
  EXPECT_TRUE(causal_single) << "the single-key edge cases ran under the causal mask";
  EXPECT_TRUE(none_long);
  EXPECT_TRUE(explicit_any);
}

// ---- Masked-key independence and libtorch's kernels ----------------------------------------------

TEST(MaskedIndependence, LibtorchLetsMaskedNaNThroughUnlessDeclaredFinite) {
  const auto names = builtin_kernel_names();
  if (std::find(names.begin(), names.end(), "torch-sdpa") == names.end()) GTEST_SKIP() << "built without libtorch";
  auto kernel = builtin_kernel("torch-sdpa", 20);
  ValidateOptions o = options(1, 20);
  o.properties = {"MASKED-INDEPENDENCE"};
  o.failure_dir.clear();
  EXPECT_TRUE(kernel->capabilities().masked_finite);
  EXPECT_TRUE(run_suite(*kernel, o).passed());
  Capabilities strict = kernel->declared();
  strict.masked_finite = false;
  kernel->override_capabilities(strict);
  const OpReport r = run_suite(*kernel, o);
  ASSERT_FALSE(r.passed());
  EXPECT_THAT(first_failure(r)->message, HasSubstr("masked keys poisoned with"));
  std::printf("[ finding  ] libtorch 1.13 SDPA without masked-finite: %s\n", first_failure(r)->message.c_str());
}

// The libtorch built-ins speak the version-2 ABI: they declare what 1.13's C++ API can express
// (top-left causal with n_q != n_k, key padding, empty rows as NaN, strided layouts; SDPA also
// per-head masks and a float additive mask) and those properties run, not "n/a".
TEST(AbiVersionTwo, LibtorchBuiltinsRunEveryPropertyTheirApiCanExpress) {
  const auto names = builtin_kernel_names();
  if (std::find(names.begin(), names.end(), "torch-sdpa") == names.end()) GTEST_SKIP() << "built without libtorch";
  const std::vector<std::pair<std::string, std::vector<std::string>>> expressed = {
      {"torch-sdpa", {"ALIGNMENT", "PADDING", "BIAS", "EMPTY-ROWS", "BWD-ALIGNMENT", "BWD-PADDING", "BWD-BIAS"}},
      {"torch-mha", {"ALIGNMENT", "PADDING", "EMPTY-ROWS", "BWD-ALIGNMENT", "BWD-PADDING"}}};
  for (const auto& [name, properties] : expressed) {
    auto kernel = builtin_kernel(name, 20);
    const Capabilities c = kernel->declared();
    EXPECT_TRUE(c.align_top_left && c.padding && c.empty_rows_nan && c.layout_bnhd && c.backward) << name;
    EXPECT_FALSE(c.gqa || c.window || c.softcap || c.alibi || c.align_bottom_right || c.any_scale) << name;
    EXPECT_EQ(c.bias, name == "torch-sdpa");
    EXPECT_EQ(c.mask_per_head, name == "torch-sdpa");
    const OpReport r = run_suite(*kernel, unshrunk_options(7, properties, 10));
    ASSERT_EQ(r.verdicts.size(), properties.size()) << name;
    for (const OpVerdict& v : r.verdicts) {
      EXPECT_EQ(v.status, VerdictStatus::pass) << name << " " << v.property << ": " << v.message;
      EXPECT_GT(v.cases, 0) << name << " " << v.property;
    }
  }
}

TEST(MaskedIndependence, TheWordParsesAndCorrectKernelsPassWithEveryPoison) {
  Capabilities c;
  c.apply({"masked-finite"}, "--supports");
  EXPECT_TRUE(c.masked_finite);
  EXPECT_THAT(c.words(), HasSubstr("masked-finite"));
  for (const char* name : {"correct_naive", "correct_online", "correct_causal_only"}) {
    auto kernel = plugin_kernel(plugin(name), 20);
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      ValidateOptions o = options(seed, 20);
      o.properties = {"MASKED-INDEPENDENCE"};
      o.failure_dir.clear();
      const OpReport r = run_suite(*kernel, o);
      EXPECT_TRUE(r.passed()) << name << " seed " << seed << ": " << (first_failure(r) ? first_failure(r)->message : "");
    }
  }
}

// A backward failure on an input where the forward pass already fails is reported as inherited.
// ---- The C++ API -------------------------------------------------------------------------------

TEST(CppApi, ValidatesACallable) {
  ValidateOptions o = options(5, 8);
  o.properties = {"REFERENCE", "CAUSAL", "MASK"};
  EXPECT_TRUE(validate_callable([](const symbreak_attention_problem& p) { return naive_attention(&p); }, o).passed());
  const OpReport bad = validate_callable(
      [](const symbreak_attention_problem& p) {
        const int rc = naive_attention(&p);
        p.out[0] += 1e-3f;  // a bug in one element
        return rc;
      },
      o, "off-by-a-little");
  EXPECT_FALSE(bad.passed());
  EXPECT_THAT(first_failure(bad)->element.text(), HasSubstr("O batch 0, head 0, row 0, column 0"));
}

TEST(Performance, TheDefaultForwardAndBackwardSuiteOnTheNaivePluginIsQuick) {
  // Recorded, not asserted against a clock (machines are noisy): the closing note reports it.
  auto kernel = plugin_kernel(plugin("correct_naive"));
  ValidateOptions o;
  o.failure_dir.clear();
  const auto start = std::chrono::steady_clock::now();
  const OpReport r = run_suite(*kernel, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(r.passed()) << killers(r);
  EXPECT_EQ(r.verdicts.size(), op_catalogue().size());
  std::printf("[ timing   ] the default suite (%d cases per property, forward and backward) on correct_naive.so: %.1f s\n",
              ValidateOptions{}.cases, seconds);
}

}  // namespace
}  // namespace symbreak::validate
