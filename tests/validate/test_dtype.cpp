// f16 and bf16 kernels (issue 17 §2): the words, the conversions, the case files, the guards around
// 16-bit buffers, the earned tolerance, the correct low-precision kernels, the history corpus's dtype
// bugs, and what PyTorch's bf16 attention does at large logits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"
#include "symbreak/rng.hpp"
#include "symbreak/validate/case_dir.hpp"
#include "symbreak/validate/reference.hpp"
#include "symbreak/validate/validate.hpp"
#include "helpers.hpp"

using namespace symbreak;
using namespace symbreak::validate;
using namespace symbreak::validate::test;

namespace {

using ::testing::HasSubstr;

std::string words_error(const std::string& words) {
  try {
    Capabilities c;
    c.apply(split_words(words), "--supports");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

// The properties that failed, with the first failure's message.
std::string failed(const OpReport& r) {
  const OpVerdict* first = first_failure(r);
  return killers(r) + (first ? ": " + first->message : "");
}

// A bf16 op of normal values, rounded to bf16.
AttentionOp bf16_op(std::uint64_t seed, int n_q = 4, int n_k = 6, int d = 5) {
  AttentionOp op = random_op(1, 1, 0, n_q, n_k, d, seed);
  op.dtype = Dtype::bf16;
  op.round_to_dtype();
  return op;
}

}  // namespace

TEST(LowPrecision, DtypeWordsParseAndNameContradictions) {
  Capabilities c;
  c.apply(split_words("causal backward dtype=bf16"), "--supports");
  EXPECT_EQ(c.dtype, Dtype::bf16);
  EXPECT_TRUE(c.features() & SYMBREAK_FEATURE_BF16);
  EXPECT_FALSE(c.features() & SYMBREAK_FEATURE_F16);
  EXPECT_THAT(c.words(), HasSubstr("dtype=bf16"));
  Capabilities again;
  again.apply(split_words(c.words()), "round trip");
  EXPECT_EQ(again.dtype, Dtype::bf16);
  EXPECT_THAT(words_error("dtype=f16 dtype=bf16"), HasSubstr("\"dtype=bf16\" contradicts dtype=f16"));
  EXPECT_THAT(words_error("dtype=fp8"), HasSubstr("\"dtype=fp8\" is not a dtype"));
  EXPECT_EQ(words_error("dtype=f32 dtype=f32"), "(accepted)");
  // The C ABI: one dtype bit, not both.
  symbreak_attention_caps_v2 abi{};
  abi.struct_size = sizeof abi;
  abi.v1 = Capabilities::abi_defaults();
  abi.features = SYMBREAK_FEATURE_F16;
  EXPECT_EQ(Capabilities::from_abi_v2(abi, false).dtype, Dtype::f16);
  abi.features = SYMBREAK_FEATURE_F16 | SYMBREAK_FEATURE_BF16;
  EXPECT_THROW(Capabilities::from_abi_v2(abi, false), std::invalid_argument);
}

TEST(LowPrecision, ConversionsRoundToNearestEvenAndSaturateWhenAsked) {
  EXPECT_EQ(round_to(Dtype::bf16, 1.0f + 0x1p-8f), 1.0f);                  // a tie: to even
  EXPECT_EQ(round_to(Dtype::bf16, 1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);    // a tie: to even, upward
  EXPECT_EQ(round_to(Dtype::f16, 1.0f + 0x1p-11f), 1.0f);
  EXPECT_EQ(round_to(Dtype::f16, 70000.0f), std::numeric_limits<float>::infinity());
  EXPECT_EQ(max_finite(Dtype::f16), 65504.0f);
  EXPECT_TRUE(representable(Dtype::bf16, 3.0f));
  EXPECT_FALSE(representable(Dtype::bf16, 1.0f + 0x1p-10f));
  EXPECT_EQ(to_bits16(Dtype::bf16, 1.0f), 0x3F80);
  EXPECT_EQ(to_bits16(Dtype::f16, 1.0f), 0x3C00);
  std::vector<float> x = {70000.0f, -1e30f, 0.1f};
  round_in_place(Dtype::f16, x);
  EXPECT_EQ(x[0], 65504.0f);  // a large input stays a large input, not an infinity
  EXPECT_EQ(x[1], -65504.0f);
  EXPECT_EQ(x[2], round_to(Dtype::f16, 0.1f));
  EXPECT_DOUBLE_EQ(unit_roundoff(Dtype::bf16), 0x1p-8);
}

TEST(LowPrecision, AnOpHoldsValuesOfItsDtypeAndSaysWhichOneIsNot) {
  AttentionOp op = bf16_op(3);
  EXPECT_NO_THROW(op.validate());
  op.k[2] = 1.0f + 0x1p-10f;
  try {
    op.validate();
    ADD_FAILURE() << "accepted a k that is not bf16";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("k[2]"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("is not a bf16 value"));
  }
  EXPECT_TRUE(op.uses_v2());  // only the version-2 problem carries a dtype
  EXPECT_THAT(op.shape_string(), HasSubstr("bf16"));
}

TEST(LowPrecision, CaseDirectoriesCarryF16AsF2AndBf16AsItsBitPatterns) {
  for (Dtype d : {Dtype::f16, Dtype::bf16}) {
    AttentionOp op = bf16_op(5);
    op.dtype = d;
    op.round_to_dtype();
    const std::string dir = ::testing::TempDir() + "/symbreak_dtype_case_" + std::string(to_string(d));
    write_case_dir(dir, op, "{}", float_forward(op));
    const NpyArray q = read_npy(dir + "/q.npy");
    EXPECT_EQ(q.dtype, d == Dtype::f16 ? NpyArray::DType::f2 : NpyArray::DType::u2);
    EXPECT_EQ(to_bits16(d, op.q[0]), q.u16[0]);
    const OpCase back = read_case_dir(dir);
    EXPECT_EQ(back.op.dtype, d);
    EXPECT_EQ(back.op.q, op.q);
    EXPECT_EQ(back.op.d_out, op.d_out);
    // A float32 file in a 16-bit case is named, with what it must hold.
    write_file_atomically(dir + "/v.npy", npy_bytes(op.v, {1, 1, 6, 5}));
    try {
      read_case_dir(dir);
      ADD_FAILURE() << "accepted a float32 v.npy in a " << to_string(d) << " case";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(std::string(e.what()), HasSubstr("v.npy"));
      EXPECT_THAT(std::string(e.what()), HasSubstr(d == Dtype::f16 ? "'<f2'" : "'<u2'"));
    }
  }
}

TEST(LowPrecision, TheToleranceIsEarnedFromTheSameDtypeReference) {
  // err_ref of a bf16 op is the error of symbreak's float32 kernels with their outputs rounded to bf16,
  // so it is at least the exact result's own rounding, and far above float32's; the atol's ulp is 2^-8.
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const AttentionOp low = bf16_op(seed);
    AttentionOp high = low;
    high.dtype = Dtype::f32;
    const Reference r16(low), r32(high);
    EXPECT_EQ(r16.exact, r32.exact);  // the same inputs: the same exact answer
    double rounding = 0;
    for (double e : r16.exact) rounding = std::max(rounding, std::abs(round_to(Dtype::bf16, static_cast<float>(e)) - e));
    EXPECT_GE(r16.err, rounding * 0.999) << "seed " << seed;
    EXPECT_GT(r16.err, 100 * r32.err) << "seed " << seed;
    EXPECT_DOUBLE_EQ(r16.unit, 0x1p-8);
    const GradientReference g(low);
    for (float o : g.o) EXPECT_TRUE(representable(Dtype::bf16, o));  // the kernel is handed a bf16 O
    EXPECT_DOUBLE_EQ(g.unit, 0x1p-8);
  }
}

TEST(LowPrecision, GuardsWatchSixteenBitBuffersElementByElement) {
  // A bf16 kernel that writes one element past `out`, and one that leaves the last element unwritten.
  Capabilities caps;
  caps.apply(split_words("none square scale=any dv=any dtype=bf16"), "test");
  const auto run = [&](int extra) {
    CallableKernelV2 k(
        "bf16", [extra](const symbreak_attention_problem_v2& p) {
          if (naive_attention_v2(&p) != 0) return 1;
          auto* out = reinterpret_cast<std::uint16_t*>(p.out);
          const std::size_t n = static_cast<std::size_t>(p.batch) * p.heads * p.n_q * p.d_v;
          if (extra > 0) out[n] = 0x3F80;
          if (extra < 0) std::memcpy(&out[n - 1], "\x85\x7F", 2);  // puts the canary back: unwritten
          return 0;
        },
        {}, caps);
    return k.forward(bf16_op(7));
  };
  EXPECT_TRUE(run(0).ok()) << run(0).message;
  const CallResult over = run(1);
  EXPECT_EQ(over.status, CallResult::Status::guard_violation);
  EXPECT_THAT(over.message, HasSubstr("1 bf16 elements after `out`"));
  const CallResult under = run(-1);
  EXPECT_EQ(under.status, CallResult::Status::guard_violation);
  EXPECT_THAT(under.message, HasSubstr("left 1 of 20 elements of `out` unwritten"));
}

TEST(LowPrecision, CorrectF16AndBf16KernelsPassOnTwentySeeds) {
  for (const char* name : {"correct_bf16", "correct_f16"}) {
    auto kernel = plugin_kernel(plugin(name), 20);
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      ValidateOptions o = unshrunk_options(seed, {}, 6);
      o.edge_cases = seed == 1;  // deterministic: once is enough
      const OpReport r = run_suite(*kernel, o);
      EXPECT_TRUE(r.passed()) << name << " seed " << seed << ": " << failed(r);
    }
  }
}

TEST(LowPrecision, RobustAloneCatchesBothHistoricalDtypeBugsOnEverySeed) {
  // mutant_f16_scale_after_qk (metal-flash-attention#8): q·k kept in f16 before the scale;
  // mutant_bf16_scores_in_f16 (ggml#1536): bf16 scores through an f16 buffer. ROBUST's dtype edge
  // case (scores near f16's range, the unscaled product 8× larger) kills both on every seed.
  for (const char* name : {"mutant_f16_scale_after_qk", "mutant_bf16_scores_in_f16"}) {
    auto mutant = plugin_kernel(plugin(name), 20);
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      const OpReport r = run_suite(*mutant, unshrunk_options(seed, {"ROBUST"}));
      EXPECT_FALSE(r.passed()) << name << " survived seed " << seed;
    }
  }
}

TEST(LowPrecision, PyTorchsBf16AttentionLosesLargeLogits) {
  // Finding (validate/README.md): PyTorch 1.13's attention in bf16 (nn.MultiheadAttention and
  // matmul + softmax) stores the scores in bf16, so at logits of order 100 (the large-scale edge case)
  // its output is off by O(1) where a float32-accumulating kernel, correct_bf16, passes. On ordinary
  // inputs it stays within the same-dtype bound.
  if (std::system("/usr/bin/python3 -c 'import torch, numpy' > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3-torch missing";
  auto torch = exec_kernel(std::string("/usr/bin/python3 ") + SYMBREAK_TORCH_ADAPTER + " --mode mha --dtype bf16", 60);
  auto correct = plugin_kernel(plugin("correct_bf16"), 20);
  EXPECT_EQ(torch->capabilities().dtype, Dtype::bf16);
  const ValidateOptions robust = unshrunk_options(1, {"ROBUST"});
  const OpReport r = run_suite(*torch, robust);
  ASSERT_FALSE(r.passed());
  EXPECT_TRUE(run_suite(*correct, robust).passed());
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const OpReport ordinary = run_suite(*torch, unshrunk_options(seed, {"REFERENCE", "CAUSAL", "MASK", "PADDING", "BWD-REFERENCE"}));
    EXPECT_TRUE(ordinary.passed()) << "seed " << seed << ": " << failed(ordinary);
  }
}

// The libtorch built-ins in bf16 (--supports dtype=bf16): libtorch 1.13's own SDPA and
// MultiheadAttention, read in place through the ABI's strides. The same finding as the Python
// adapter's: both keep the scores in bf16, so the large-logit edge cases fail ROBUST (and the backward
// BWD-ROBUST), on every seed, while every other property, masks, padding and layouts included, passes.
TEST(LowPrecision, LibtorchBuiltinsInBf16LoseLargeLogitsAndPassEverythingElse) {
  const auto names = builtin_kernel_names();
  if (std::find(names.begin(), names.end(), "torch-sdpa") == names.end()) GTEST_SKIP() << "built without libtorch";
  for (const char* name : {"torch-sdpa", "torch-mha"}) {
    auto kernel = builtin_kernel(name, 20);
    Capabilities bf16 = kernel->declared();
    bf16.apply({"dtype=bf16"}, "--supports");
    kernel->override_capabilities(bf16);
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      const OpReport r = run_suite(*kernel, unshrunk_options(seed, {}, 6));
      std::vector<std::string> failing;
      for (const OpVerdict& v : r.verdicts)
        if (v.status == VerdictStatus::fail) failing.push_back(v.property);
      EXPECT_THAT(failing, ::testing::Contains("ROBUST")) << name << " seed " << seed;
      for (const std::string& p : failing)
        EXPECT_TRUE(p == "ROBUST" || p == "BWD-ROBUST") << name << " seed " << seed << " fails " << p << ": " << failed(r);
    }
  }
}
