// symbreak validate, ABI version 2: the op as production kernels run it (grouped heads, causal with
// n_q != n_k, windows, padding, softcap, bias and ALiBi, empty rows, strided layouts), and compared
// kernels and ONNX Runtime through it.
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

// ---- ABI version 2: the op as production kernels run it ------------------------------------------

TEST(AbiVersionTwo, WordsParseAndNameContradictionsAndWhatIsNotSupported) {
  Capabilities c;
  c.apply(split_words("causal=bottom-right gqa window padding explicit mask=per-head empty-rows=zero softcap layout=bnhd backward"),
          "test");
  EXPECT_TRUE(c.align_bottom_right && !c.align_top_left && c.gqa && c.window && c.padding && c.mask_per_head &&
              c.empty_rows && c.softcap && c.layout_bnhd && c.mask_causal && c.mask_explicit && !c.mask_none);
  EXPECT_TRUE(c.features() & SYMBREAK_FEATURE_SOFTCAP);
  Capabilities again;
  again.apply(split_words(c.words()), "round trip");
  EXPECT_EQ(again.words(), c.words());
  const auto error = [](const std::string& words) {
    try {
      Capabilities x;
      x.apply(split_words(words), "--supports");
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_THAT(error("causal=top-left causal=bottom-right"), HasSubstr("\"causal=bottom-right\" contradicts the other alignment"));
  EXPECT_THAT(error("window=abc"), HasSubstr("\"window=abc\" takes no value"));
  EXPECT_THAT(error("softcap=50"), HasSubstr("\"softcap=50\" takes no value"));
  EXPECT_THAT(error("causal=diagonal"), HasSubstr("\"causal=diagonal\" is not an alignment"));
  EXPECT_THAT(error("gqa max-heads=1"), HasSubstr("\"gqa\" contradicts max-heads=1"));
  EXPECT_THAT(error("dtype=bf16 dtype=f16"), HasSubstr("\"dtype=f16\" contradicts dtype=bf16"));
  EXPECT_THAT(error("empty-rows=inf"), HasSubstr("\"empty-rows=inf\" is not a result for empty rows"));
  EXPECT_THAT(error("layout=nhbd"), HasSubstr("\"layout=nhbd\" is not a layout"));
  EXPECT_THAT(error("causal mask=per-head"), HasSubstr("needs the explicit mask mode"));
}



TEST(AbiVersionTwo, TheExactReferenceOfGroupedHeadsIsTheRepeatInterleavedOp) {
  const AttentionOp grouped = random_op(2, 6, 2, 5, 7, 3, 11);
  AttentionOp expanded = grouped;  // K and V repeated per query head: head h gets KV head h / 3
  expanded.heads_kv = 0;
  expanded.k.clear();
  expanded.v.clear();
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 6; ++h) {
      const std::size_t from = (static_cast<std::size_t>(b) * 2 + h / 3) * 7 * 3;
      expanded.k.insert(expanded.k.end(), grouped.k.begin() + from, grouped.k.begin() + from + 21);
      expanded.v.insert(expanded.v.end(), grouped.v.begin() + from, grouped.v.begin() + from + 21);
    }
  EXPECT_EQ(exact_attention(grouped), exact_attention(expanded));  // exact equality, not a tolerance
  // dK, dV of a KV head: the exact sum of its query heads' gradients.
  const ExactGradients g = exact_attention_backward(grouped), e = exact_attention_backward(expanded);
  EXPECT_EQ(g.dq, e.dq);
  for (int b = 0; b < 2; ++b)
    for (int kv = 0; kv < 2; ++kv)
      for (std::size_t i = 0; i < 21; ++i) {
        Exact sum = 0;
        for (int h = kv * 3; h < kv * 3 + 3; ++h) sum += e.dk[(static_cast<std::size_t>(b) * 6 + h) * 21 + i];
        EXPECT_EQ(g.dk[(static_cast<std::size_t>(b) * 2 + kv) * 21 + i], sum);
      }
}

TEST(AbiVersionTwo, BottomRightCausalIsTheShiftedExplicitMaskAndEmptyRowsAreZero) {
  for (const auto& [n_q, n_k] : std::vector<std::pair<int, int>>{{3, 7}, {7, 3}}) {
    AttentionOp aligned = random_op(1, 1, 0, n_q, n_k, 2, 5);
    aligned.causal = true;
    aligned.alignment = Alignment::bottom_right;
    aligned.empty_rows = true;
    AttentionOp masked = aligned;  // the same visibility as an explicit mask (rows above the keys: none)
    masked.causal = false;
    masked.alignment = Alignment::top_left;
    masked.mask.assign(static_cast<std::size_t>(n_q) * n_k, 0);
    for (int i = 0; i < n_q; ++i)
      for (int j = 0; j < n_k; ++j) masked.mask[static_cast<std::size_t>(i) * n_k + j] = j <= i + n_k - n_q;
    EXPECT_EQ(exact_attention(aligned), exact_attention(masked));
    const std::vector<Exact> out = exact_attention(aligned);
    const ExactGradients g = exact_attention_backward(aligned);
    for (int i = 0; i < n_q; ++i) {
      if (i + n_k - n_q >= 0) continue;  // a row that sees no key: zero output and zero dQ
      for (int c = 0; c < 2; ++c) {
        EXPECT_EQ(out[static_cast<std::size_t>(i) * 2 + c], 0);
        EXPECT_EQ(g.dq[static_cast<std::size_t>(i) * 2 + c], 0);
      }
    }
  }
}

TEST(AbiVersionTwo, CaseDirectoriesCarryEveryVersionTwoField) {
  AttentionOp op = random_op(2, 4, 2, 5, 9, 3, 21);
  op.causal = true;
  op.alignment = Alignment::bottom_right;
  op.window_left = 3;
  op.window_right = 1;
  op.kv_lens = {9, 6};
  op.empty_rows = true;
  op.softcap = 2.5f;
  op.mask.assign(static_cast<std::size_t>(2) * 4 * 5 * 9, 1);
  op.mask[7] = 0;
  op.mask_per_head = true;
  const std::string dir = ::testing::TempDir() + "/symbreak_v2_case";
  write_case_dir(dir, op, "{}");
  const OpCase back = read_case_dir(dir);
  EXPECT_EQ(back.op.shape_string(), op.shape_string());
  EXPECT_EQ(back.op.k, op.k);
  EXPECT_EQ(back.op.mask, op.mask);
  EXPECT_EQ(back.op.kv_lens, op.kv_lens);
  EXPECT_EQ(exact_attention(back.op), exact_attention(op));
}

TEST(AbiVersionTwo, AVersionOneKernelDeclaredWithVersionTwoWordsIsToldSo) {
  auto kernel = plugin_kernel(plugin("correct_v1_frozen"), 20);
  Capabilities c = kernel->declared();
  c.apply({"gqa"}, "--supports");
  kernel->override_capabilities(c);
  ValidateOptions o = options(1, 5);
  o.properties = {"GQA-MAPPING"};
  const OpReport r = run_suite(*kernel, o);
  ASSERT_NE(first_failure(r), nullptr);
  EXPECT_THAT(first_failure(r)->message, HasSubstr("needs the version-2 ABI (gqa"));
}

TEST(AbiVersionTwo, AKernelThatIgnoresStridesFailsWhenItDeclaresTheLayout) {
  // A kernel that declares layout=bnhd but reads [b][h][n][d] as if contiguous: the validator lays
  // the tensors out as [b][n][h][d], so any case with two heads and two rows shows it.
  const auto contiguous_only = [](const symbreak_attention_problem_v2& p) {
    symbreak_attention_problem_v2 wrong = p;
    AttentionOp shape;
    shape.batch = p.batch;
    shape.heads = p.heads;
    shape.heads_kv = p.heads_kv == p.heads ? 0 : p.heads_kv;
    shape.n_q = p.n_q;
    shape.n_k = p.n_k;
    shape.d_head = p.d_head;
    shape.d_v = p.d_v;
    const symbreak_attention_problem_v2 packed = shape.problem_v2(nullptr);
    std::copy(packed.q_strides, packed.q_strides + 3, wrong.q_strides);
    std::copy(packed.k_strides, packed.k_strides + 3, wrong.k_strides);
    std::copy(packed.v_strides, packed.v_strides + 3, wrong.v_strides);
    std::copy(packed.out_strides, packed.out_strides + 3, wrong.out_strides);
    return naive_attention_v2(&wrong);
  };
  Capabilities caps;
  caps.gqa = caps.layout_bnhd = true;
  CallableKernelV2 bad("contiguous only", contiguous_only, {}, caps);
  ValidateOptions o = options(2, 40);
  o.properties = {"GQA-MAPPING"};
  EXPECT_FALSE(run_suite(bad, o).passed());
  caps.layout_bnhd = false;  // declared honestly, the same kernel passes
  CallableKernelV2 good("contiguous only", contiguous_only, {}, caps);
  EXPECT_TRUE(run_suite(good, o).passed());
}

TEST(GroupedHeads, PermutingWithinGroupsPermutesTheExactOutput) {
  // Exact equality: in Exact the op commutes with the group-respecting shuffle element for element.
  AttentionOp op;
  op.batch = 2;
  op.heads = 6;
  op.heads_kv = 2;
  op.n_q = 3;
  op.n_k = 4;
  op.d_head = 2;
  op.d_v = 3;
  op.scale = 0.5f;
  Rng rng(7);
  const auto draw = [&](std::vector<float>& x, std::size_t n) {
    x.resize(n);
    for (float& v : x) v = static_cast<float>(rng.normal());
  };
  draw(op.q, op.q_size());
  draw(op.k, op.k_size());
  draw(op.v, op.v_size());
  op.mask_per_head = true;
  op.mask.assign(static_cast<std::size_t>(op.batch) * op.heads * op.n_q * op.n_k, 1);
  op.mask[5] = op.mask[17] = op.mask[40] = 0;  // heads differ in their masks: the mask must travel too
  const std::vector<int> perm = {5, 3, 4, 1, 0, 2};  // groups swapped, heads shuffled inside each
  const AttentionOp moved = permute_grouped_heads(op, perm);
  const std::vector<Exact> before = exact_attention(op), after = exact_attention(moved);
  const std::size_t per_head = static_cast<std::size_t>(op.n_q) * op.d_v;
  for (std::size_t i = 0; i < after.size(); ++i) {
    const std::size_t h = (i / per_head) % op.heads, b = i / (per_head * op.heads);
    ASSERT_EQ(after[i], before[(b * op.heads + perm[h]) * per_head + i % per_head]) << "element " << i;
  }
  EXPECT_THROW(permute_grouped_heads(op, {0, 1, 3, 2, 4, 5}), std::logic_error);  // head 3 leaves group 0
}

TEST(GroupedHeads, GqaPermAloneCatchesTiledHeadMappingOnEverySeed) {
  // onnx/onnx#7274's tiled mapping (tests/mutants/history/mutant_gqa_tile.c) without the exact
  // reference: the metamorphic check by itself rejects it, and passes the correct kernel.
  auto tiled = plugin_kernel(plugin("mutant_gqa_tile"), 20);
  auto correct = plugin_kernel(plugin("correct_v2"), 20);
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    ValidateOptions o = unshrunk_options(seed, {"GQA-PERM"});
    const OpReport bad = run_suite(*tiled, o);
    ASSERT_NE(first_failure(bad), nullptr) << "seed " << seed;
    EXPECT_THAT(first_failure(bad)->message, HasSubstr("query heads within their groups permuted"));
    o.properties = {"GQA-PERM", "BWD-GQA-PERM"};
    EXPECT_TRUE(run_suite(*correct, o).passed()) << "seed " << seed;
  }
}

TEST(Softcap, SoftcapAloneCatchesEveryHistoricalSoftcapBugOnEverySeed) {
  // The history corpus's softcap mutants die in ALIGNMENT too (its cases draw a cap a quarter of the
  // time); SOFTCAP and BWD-SOFTCAP alone must kill each of them, and pass the correct kernel.
  auto correct = plugin_kernel(plugin("correct_v2"), 20);
  for (const char* name : {"mutant_softcap_after_mask", "mutant_softcap_times_logit", "mutant_softcap_exp_overflow",
                           "mutant_softcap_dropped", "mutant_softcap_reciprocal", "mutant_bwd_softcap_no_dtanh"}) {
    auto mutant = plugin_kernel(plugin(name), 20);
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      ValidateOptions o = unshrunk_options(seed, {"SOFTCAP", "BWD-SOFTCAP"});
      EXPECT_FALSE(run_suite(*mutant, o).passed()) << name << " survived seed " << seed;
      if (std::string(name) == "mutant_softcap_after_mask") {
        EXPECT_TRUE(run_suite(*correct, o).passed()) << "seed " << seed;
      }
    }
  }
}

TEST(Bias, BiasAndAlibiAloneCatchEveryHistoricalBiasBugOnEverySeed) {
  // The bias and ALiBi mutants of the history corpus: BIAS/ALIBI and their backward twins alone kill
  // each on every seed, and pass the correct kernel.
  auto correct = plugin_kernel(plugin("correct_v2"), 20);
  for (const char* name : {"mutant_alibi_sign_flipped", "mutant_alibi_column_only", "mutant_alibi_kv_head_slope",
                           "mutant_alibi_unaligned", "mutant_bias_finfo_min_mask"}) {
    auto mutant = plugin_kernel(plugin(name), 20);
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      ValidateOptions o = unshrunk_options(seed, {"BIAS", "ALIBI", "BWD-BIAS", "BWD-ALIBI"});
      EXPECT_FALSE(run_suite(*mutant, o).passed()) << name << " survived seed " << seed;
      if (std::string(name) == "mutant_alibi_unaligned") {
        EXPECT_TRUE(run_suite(*correct, o).passed()) << "seed " << seed;
      }
    }
  }
}

TEST(Bias, TiedScoresExposeAnAdditiveMaskWithoutEmptyRows) {
  // −FLT_MAX on exactly the visible keys, all scores tied: only the mask tells the keys apart. A
  // kernel that masks with an additive −FLT_MAX fails there even where no row is empty.
  auto mutant = plugin_kernel(plugin("mutant_bias_finfo_min_mask"), 20), correct = plugin_kernel(plugin("correct_v2"), 20);
  Capabilities c;
  c.apply(split_words("none causal explicit backward bias"), "--supports");
  ASSERT_FALSE(c.empty_rows);
  mutant->override_capabilities(c);
  correct->override_capabilities(c);
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    ValidateOptions o = unshrunk_options(seed, {"BIAS"});
    const OpReport r = run_suite(*mutant, o);
    ASSERT_NE(first_failure(r), nullptr) << "seed " << seed;
    EXPECT_THAT(first_failure(r)->message, HasSubstr("exact reference"));
    EXPECT_TRUE(run_suite(*correct, o).passed()) << "seed " << seed;
  }
}

TEST(Bias, MinusInfinityHidesAKeyAndBadBiasesAreNamed) {
  AttentionOp op = random_op(1, 2, 0, 3, 4, 2, 7);
  op.bias.assign(static_cast<std::size_t>(op.heads) * op.n_q * op.n_k, 0.5f);
  op.bias[1] = -std::numeric_limits<float>::infinity();  // head 0, query 0, key 1
  EXPECT_FALSE(op.visible(0, 0, 0, 1));
  EXPECT_TRUE(op.visible(0, 1, 0, 1));
  EXPECT_NO_THROW(op.validate());
  // Exactly the op with that key masked for that head and no bias: a constant bias cancels in the
  // softmax, and −inf is a mask.
  AttentionOp masked = op;
  masked.bias.clear();
  masked.mask_per_head = true;
  masked.mask.assign(static_cast<std::size_t>(op.heads) * op.n_q * op.n_k, 1);
  masked.mask[1] = 0;
  const std::vector<Exact> a = exact_attention(op), b = exact_attention(masked);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << "element " << i;
  // −FLT_MAX hides nothing: a row of it is the row without it.
  AttentionOp lowest = masked;
  lowest.bias.assign(static_cast<std::size_t>(op.heads) * op.n_q * op.n_k, 0.0f);
  for (int j = 0; j < op.n_k; ++j) lowest.bias[static_cast<std::size_t>(op.n_q) * op.n_k + j] = std::numeric_limits<float>::lowest();
  EXPECT_TRUE(lowest.visible(0, 1, 0, 0));
  const std::vector<Exact> c = exact_attention(lowest);
  for (std::size_t i = 0; i < c.size(); ++i) EXPECT_TRUE(c[i] == b[i]) << "element " << i;
  AttentionOp nan_bias = op;
  nan_bias.bias[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(nan_bias.validate(), std::invalid_argument);
  AttentionOp both = op;
  both.alibi_slopes.assign(static_cast<std::size_t>(op.heads), 0.5f);
  try {
    both.validate();
    FAIL() << "a bias and ALiBi together were accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("ALiBi"));
  }
  Capabilities caps;
  try {
    caps.apply(split_words("bias=1"), "--supports");
    FAIL() << "bias=1 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"bias=1\" takes no value"));
  }
  caps.apply(split_words("bias alibi"), "test");
  EXPECT_EQ(caps.features() & (SYMBREAK_FEATURE_BIAS | SYMBREAK_FEATURE_ALIBI), SYMBREAK_FEATURE_BIAS | SYMBREAK_FEATURE_ALIBI);
}

TEST(Bias, AlibiIsTheExactBiasOfTheAlignedDistance) {
  // ALiBi on a decode row (n_q = 1, bottom-right): score(0, j) − slope·|n_k − 1 − j|, exactly the
  // explicit bias of those values.
  AttentionOp alibi = random_op(1, 2, 0, 1, 6, 3, 11);
  alibi.alignment = Alignment::bottom_right;
  alibi.alibi_slopes = {0.25f, 1.5f};
  AttentionOp explicit_bias = alibi;
  explicit_bias.alibi_slopes.clear();
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 6; ++j) explicit_bias.bias.push_back(-alibi.alibi_slopes[static_cast<std::size_t>(h)] * static_cast<float>(5 - j));
  EXPECT_EQ(alibi.score_bias(0, 1, 0, 2), -1.5 * 3);
  const std::vector<Exact> a = exact_attention(alibi), b = exact_attention(explicit_bias);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << "element " << i;
}

TEST(Bias, ACaseDirectoryCarriesTheBiasAndTheSlopes) {
  AttentionOp op = random_op(1, 2, 0, 3, 4, 2, 5);
  op.bias.assign(static_cast<std::size_t>(op.heads) * op.n_q * op.n_k, 0.25f);
  op.bias[3] = -std::numeric_limits<float>::infinity();
  const std::string dir = ::testing::TempDir() + "/symbreak_bias_case";
  write_case_dir(dir, op, "{}");
  const OpCase back = read_case_dir(dir);
  ASSERT_EQ(back.op.bias.size(), op.bias.size());
  EXPECT_TRUE(std::isinf(back.op.bias[3]));
  AttentionOp slopes = random_op(1, 2, 0, 3, 4, 2, 6);
  slopes.alibi_slopes = {0.5f, 0.125f};
  write_case_dir(dir, slopes, "{}");
  EXPECT_EQ(read_case_dir(dir).op.alibi_slopes, slopes.alibi_slopes);
  EXPECT_TRUE(read_case_dir(dir).op.bias.empty());
}

TEST(EmptyRows, TheNanContractIsCheckedAsDeclared) {
  // PyTorch's math path writes softmax's 0/0 = NaN in a row with no visible key: a kernel may declare
  // that contract (empty-rows=nan). Then EMPTY-ROWS wants NaN there, a zero row fails it, and the
  // backward gets no such rows (BWD-EMPTY-ROWS is not applicable).
  const auto declared_nan = [](const std::string& name) {
    auto k = plugin_kernel(plugin(name), 20);
    Capabilities c = k->declared();
    c.apply({"empty-rows=nan"}, "--supports");
    k->override_capabilities(c);
    return k;
  };
  auto nan_rows = declared_nan("mutant_empty_row_nan"), zero_rows = declared_nan("correct_v2");
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    ValidateOptions o = unshrunk_options(seed, {"EMPTY-ROWS", "ALIGNMENT", "BWD-ALIGNMENT", "BWD-EMPTY-ROWS"});
    const OpReport pass = run_suite(*nan_rows, o);
    EXPECT_TRUE(pass.passed()) << "seed " << seed << ": " << killers(pass);
    EXPECT_EQ(verdict(pass, "BWD-EMPTY-ROWS").status, VerdictStatus::not_applicable);
    o.properties = {"EMPTY-ROWS"};
    const OpReport fail = run_suite(*zero_rows, o);
    ASSERT_NE(first_failure(fail), nullptr) << "seed " << seed;
    EXPECT_THAT(first_failure(fail)->message, HasSubstr("the declared contract empty-rows=nan wants NaN"));
  }
  Capabilities c;
  EXPECT_THROW(c.apply(split_words("empty-rows=zero empty-rows=nan"), "test"), std::invalid_argument);
  c.apply(split_words("explicit empty-rows=nan"), "test");
  EXPECT_EQ(c.features() & (SYMBREAK_FEATURE_EMPTY_ROWS | SYMBREAK_FEATURE_EMPTY_ROWS_NAN), SYMBREAK_FEATURE_EMPTY_ROWS_NAN);
}

TEST(Softcap, ACaseDirectoryRejectsANegativeCap) {
  AttentionOp op = random_op(1, 1, 1, 2, 3, 2, 5);
  const std::string dir = ::testing::TempDir() + "/symbreak_softcap_case";
  write_case_dir(dir, op, R"({"softcap": -1})");
  try {
    read_case_dir(dir);
    FAIL() << "a negative softcap was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"softcap\" must be a number >= 0"));
  }
}

TEST(Compare, TheCommonRegionIsWhatBothDeclare) {
  Capabilities a, b;
  a.apply(split_words("none causal=bottom-right gqa window padding backward max-n=64"), "a");
  b.apply(split_words("causal=top-left gqa none causal max-n=16 max-d=8 masked-finite"), "b");
  const Capabilities c = common_region(a, b);
  EXPECT_TRUE(c.gqa && c.mask_none && c.mask_causal && c.masked_finite);
  EXPECT_FALSE(c.align_top_left || c.align_bottom_right || c.window || c.padding || c.backward || c.mask_explicit);
  EXPECT_EQ(c.max_n, 16);
  EXPECT_EQ(c.max_d, 8);
  EXPECT_EQ(c.max_batch, 0);
}

TEST(Compare, AgreeingKernelsAgreeAndAPlantedBugIsNamedAsTheOneOff) {
  auto correct = plugin_kernel(plugin("correct_v2"), 20);
  auto tiled = plugin_kernel(plugin("mutant_gqa_tile"), 20);
  ValidateOptions o = options(4, 10);
  o.shrink_seconds = 1;
  o.failure_dir.clear();
  const CompareReport bad = compare_kernels(*correct, *tiled, o);
  ASSERT_FALSE(bad.agreed());
  EXPECT_THAT(bad.disagreement->property, ::testing::AnyOf("ALIGNMENT", "GQA-MAPPING"));  // a case with grouped heads
  EXPECT_THAT(bad.disagreement->message, HasSubstr("mutant_gqa_tile.so (B) is off the exact value"));
  EXPECT_GT(bad.disagreement->difference, bad.disagreement->bound);
  const CompareReport swapped = compare_kernels(*tiled, *correct, o);
  ASSERT_FALSE(swapped.agreed());
  EXPECT_THAT(swapped.disagreement->message, HasSubstr("mutant_gqa_tile.so (A) is off the exact value"));
  auto other = plugin_kernel(plugin("correct_v2"), 20);
  const CompareReport same = compare_kernels(*correct, *other, o);
  EXPECT_TRUE(same.agreed()) << same.disagreement->message;
  EXPECT_GT(same.cases, 50);
}

TEST(OnnxRuntime, LetsMaskedNaNThroughUnlessDeclaredFinite) {
  if (!std::string(SYMBREAK_NODE).size()) GTEST_SKIP() << "configured without node (SYMBREAK_SKIP_ORT=1)";
  // The finding in validate/README.md: onnxruntime-node 1.31.1's CPU Attention lets a NaN in a masked
  // key's K or V reach the output, through attn_mask and through is_causal. The adapter declares
  // masked-finite; without that word MASKED-INDEPENDENCE must catch it (if a later ONNX Runtime
  // fixes it, this test says so and the declaration can go).
  auto kernel = exec_kernel(ort_command("top-left"), 60);
  EXPECT_TRUE(kernel->declared().masked_finite);
  ValidateOptions o = options(3, 40);
  o.properties = {"MASKED-INDEPENDENCE"};
  EXPECT_TRUE(run_suite(*kernel, o).passed());
  Capabilities honest = kernel->declared();
  honest.masked_finite = false;
  kernel->override_capabilities(honest);
  const OpReport r = run_suite(*kernel, o);
  ASSERT_NE(first_failure(r), nullptr) << "ONNX Runtime no longer leaks masked NaN: drop masked-finite from the adapter";
  EXPECT_THAT(first_failure(r)->message, HasSubstr("poisoned with NaN"));
}

}  // namespace
}  // namespace symbreak::validate
