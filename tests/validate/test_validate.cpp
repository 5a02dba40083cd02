// symbreak validate: every mutant (forward and backward) is rejected on every seed, every correct kernel
// passes on every seed, kernels that support only part of the op are validated inside their region
// through each interface, faults are isolated, and the exec protocol's errors are named.
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

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream s(list);
  for (std::string item; std::getline(s, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}


const OpVerdict& verdict(const OpReport& r, const std::string& property) {
  for (const OpVerdict& v : r.verdicts)
    if (v.property == property) return v;
  throw std::logic_error("no verdict for " + property);
}

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

// ONNX Runtime's Attention through validate/adapters/ort (the npm package must be installed there).
std::string ort_command(const std::string& alignment) {
  const std::string dir = std::filesystem::path(SYMBREAK_ORT_ADAPTER).parent_path().string();
  if (!std::filesystem::exists(dir + "/node_modules/onnxruntime-node"))
    throw std::runtime_error("onnxruntime-node is not installed in " + dir +
                             ": run `bash .ci/bootstrap.sh test`, or `ONNXRUNTIME_NODE_INSTALL=skip npm ci` there");
  return std::string(SYMBREAK_NODE) + " " + SYMBREAK_ORT_ADAPTER + " --causal " + alignment;
}

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
                          Expect{"faulty_nonzero_return", "returned 7"}, Expect{"faulty_wrong_abi", "ABI version 3 (this validator serves 1 and 2)"},
                          Expect{"faulty_missing_symbol", "does not export symbreak_attention_forward"}}) {
    auto kernel = plugin_kernel(plugin(e.plugin), 10);
    const OpReport r = run_suite(*kernel, quick({"REFERENCE", "HEADS", "BATCH"}));
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
  const OpReport r = run_suite(*kernel, quick({"HEADS"}));
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
    const OpReport r = run_suite(*kernel, quick({"REFERENCE"}));
    ASSERT_FALSE(r.passed());
    EXPECT_THAT(first_failure(r)->message, HasSubstr("wrote outside its outputs")) << name;
  }
}

// ---- The exec protocol -------------------------------------------------------------------------

TEST(ExecProtocol, FaultsAreNamedPerCase) {
  struct Expect {
    const char* mode;
    const char* message;
  };
  for (const Expect& e : {Expect{"exit_after_2", "the command exited with code 3"}, Expect{"wrong_shape", "(expected ["},
                          Expect{"truncated", "truncated"}, Expect{"error_reply", "error: this kernel refuses everything"},
                          Expect{"garbage_reply", "unexpected answer \"done!\""}, Expect{"wrong_dtype", "dtype"}}) {
    auto kernel = exec_kernel(std::string(SYMBREAK_EXEC_STUB) + " " + e.mode, 10);
    const OpReport r = run_suite(*kernel, quick({"REFERENCE", "HEADS"}));
    ASSERT_FALSE(r.passed()) << e.mode;
    EXPECT_THAT(first_failure(r)->message, HasSubstr(e.message)) << e.mode;
  }
  auto hang = exec_kernel(std::string(SYMBREAK_EXEC_STUB) + " hang", 0.5);
  const OpReport r = run_suite(*hang, quick({"REFERENCE"}));
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
  const OpReport r = run_suite(*kernel, o);
  const OpVerdict* v = first_failure(r);
  ASSERT_NE(v, nullptr);
  // A head mix-up needs two heads and two keys (with one key every softmax weight is 1) and nothing more.
  EXPECT_THAT(v->shape, HasSubstr("b=1 h=2 n_q=")) << v->shape;
  EXPECT_THAT(v->shape, HasSubstr("n_k=2 d=1 d_v=1")) << v->shape;
  ASSERT_FALSE(v->counterexample_dir.empty());
  for (const char* file : {"q.npy", "k.npy", "v.npy", "case.json"})
    EXPECT_TRUE(std::filesystem::exists(v->counterexample_dir + "/" + file)) << file;
  EXPECT_EQ(v->replay, "symbreak validate --plugin " + plugin("mutant_head_mixup") + " --replay " + v->counterexample_dir);
  const OpReport again = replay_case(*kernel, v->counterexample_dir, o);
  ASSERT_EQ(again.verdicts.size(), 1u);
  EXPECT_EQ(again.verdicts[0].status, VerdictStatus::fail);
  EXPECT_EQ(again.verdicts[0].message, v->message);
  auto good = builtin_kernel("naive");
  EXPECT_TRUE(replay_case(*good, v->counterexample_dir, o).passed());
}

TEST(Counterexamples, BackwardFailuresNameTheGradientAndReplay) {
  auto kernel = plugin_kernel(plugin("mutant_bwd_dq_scale_missing"), 10);
  ValidateOptions o = options(5, 20);
  o.properties = {"BWD-REFERENCE"};
  const OpReport r = run_suite(*kernel, o);
  const OpVerdict* v = first_failure(r);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->element.tensor, "dQ") << v->message;  // dK and dV are right
  EXPECT_THAT(v->shape, HasSubstr("backward"));
  EXPECT_TRUE(std::filesystem::exists(v->counterexample_dir + "/d_out.npy"));
  EXPECT_EQ(replay_case(*kernel, v->counterexample_dir, o).verdicts[0].status, VerdictStatus::fail);
  EXPECT_TRUE(replay_case(*builtin_kernel("naive"), v->counterexample_dir, o).passed());
}

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

// ---- The tolerance: a correct backward of another algorithm is not a failure ---------------------

// llm.c's CPU backward forms dS through the explicit softmax Jacobian (one rounded sum per key). On
// uniform rows of equal scores an exact dQ of 0 comes out as a difference of terms of size ~300; its
// float32 error (about an ulp of those terms) once exceeded a bound that scaled with max|dQ| = 0.
TEST(Tolerance, AnExplicitJacobianBackwardPassesWhereItsTermsCancel) {
  auto kernel = plugin_kernel(plugin("correct_jacobian_causal"), 20);
  OpCase c;
  AttentionOp& op = c.op;
  op.n_q = op.n_k = 130;
  op.d_head = op.d_v = 1;
  op.causal = true;
  op.scale = 1.0f;
  op.q.assign(130, 100.0f);   // every score 100 · (−200) = −20000: P uniform over the visible keys
  op.k.assign(130, -200.0f);
  Rng rng(17);
  for (int j = 0; j < 130; ++j) op.v.push_back(static_cast<float>(rng.normal() * 3));
  for (int i = 0; i < 130; ++i) op.d_out.push_back(static_cast<float>(rng.normal() * 3));
  const OpOutcome o = find_op_property("BWD-REFERENCE").check(*kernel, c, Tolerance{}, false);
  EXPECT_TRUE(o.passed) << o.message;
  std::printf("[ tolerance ] explicit-Jacobian backward, n=130 uniform rows: error %.3e, bound %.3e at %s\n", o.error, o.bound,
              o.element.text().c_str());
  // The bound is a few ulps of the terms (here ~2,000 in size: k = −200), not a blanket: a bug of
  // 1e-2 in one element, a few times the bound, still fails.
  CallableKernel off("off-by-1e-2", [](const symbreak_attention_problem& p) { return naive_attention(&p); },
                     [&](const symbreak_attention_backward_problem& b) {
                       const int rc = naive_attention_backward(&b);
                       b.d_q[64] += 1e-2f;
                       return rc;
                     },
                     kernel->capabilities());
  const OpOutcome bad = find_op_property("BWD-REFERENCE").check(off, c, Tolerance{}, false);
  EXPECT_FALSE(bad.passed);
  EXPECT_THAT(bad.element.text(), HasSubstr("dQ batch 0, head 0, row 64"));
}

// Large, close scores (734 and 727) are ill-conditioned for every float32 kernel: each score rounds
// by a few ulps of its terms σ, and the weights move by that. The term sizes carry the row's
// conditioning 1 + σ·u32/u, unless every float32 evaluation of the scores is exact (integer inputs
// and a power-of-four scale), where there is no rounding to propagate.
TEST(Tolerance, TermSizesCarryTheConditioningOfRoundedScoresOnly) {
  AttentionOp op = random_op(1, 1, 0, 2, 3, 2, 5);
  op.q = {19, -19, 1, 2};
  op.k = {-33, -87, 0, 0, -36, -89};
  op.causal = false;
  op.scale = 1.0f;  // every score exact in float32: no slack
  const Reference exact_scores(op);
  op.scale = 0.70710677f;  // 1/√2: the scores round
  const Reference rounded_scores(op);
  // Row 0: σ = 0.707·(19·36 + 19·89) ≈ 1.7e3, so its terms grow by about that; the row-1 scores are
  // small, so its terms barely move.
  EXPECT_GT(rounded_scores.terms[0], 1000 * exact_scores.terms[0] * 0.70710677 / 2);
  EXPECT_LT(rounded_scores.terms[2], 200 * exact_scores.terms[2]);
  op.scale = 0.25f;  // a power of four: exact again
  const Reference quarter(op);
  EXPECT_LT(quarter.terms[0], 2 * exact_scores.terms[0]);
}

// The case that made this necessary: libtorch 1.13's SDPA (q and k each divided by d^¼) on seed 12.
TEST(Tolerance, LibtorchSdpaPassesWhereLargeCloseScoresMadeThePanelLucky) {
  const auto names = builtin_kernel_names();
  if (std::find(names.begin(), names.end(), "torch-sdpa") == names.end()) GTEST_SKIP() << "built without libtorch";
  auto kernel = builtin_kernel("torch-sdpa", 20);
  ValidateOptions o = options(12, ValidateOptions{}.cases);
  o.properties = {"ALIGNMENT", "BWD-ALIGNMENT"};
  const OpReport r = run_suite(*kernel, o);
  EXPECT_TRUE(r.passed()) << killers(r) << ": " << (first_failure(r) ? first_failure(r)->message : "");
}

TEST(Tolerance, TheExplicitJacobianBackwardPassesOnTwentySeedsAtTheDefaultCaseCount) {
  auto kernel = plugin_kernel(plugin("correct_jacobian_causal"), 20);
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    ValidateOptions o = options(seed, ValidateOptions{}.cases);
    o.properties = {"BWD-REFERENCE", "BWD-ROBUST"};
    o.edge_cases = seed == 1;
    o.failure_dir.clear();
    const OpReport r = run_suite(*kernel, o);
    EXPECT_TRUE(r.passed()) << "seed " << seed << ": " << killers(r) << ": "
                            << (first_failure(r) ? first_failure(r)->message + " on " + first_failure(r)->shape : "");
  }
}

// A kernel that declares itself deterministic is held to it, forward and backward; one that does not
// gets a warning for the same behaviour.
TEST(Determinism, ANondeterministicBackwardDeclaredDeterministicIsRejectedOnEverySeed) {
  auto kernel = plugin_kernel(plugin("mutant_bwd_nondeterministic"), 10);
  Capabilities declared = kernel->declared();
  declared.apply({"backward", "deterministic"}, "--supports");
  int killed = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    ValidateOptions o = options(seed, ValidateOptions{}.cases);
    o.properties = {"BWD-DETERMINISM"};
    o.failure_dir.clear();
    kernel->override_capabilities(declared);
    const OpReport r = run_suite(*kernel, o);
    killed += !r.passed();
    if (seed == 1) {
      ASSERT_FALSE(r.passed());
      EXPECT_THAT(first_failure(r)->message, HasSubstr("differs from run 1 in dQ"));
      EXPECT_THAT(first_failure(r)->message, HasSubstr("declares itself deterministic"));
      // The same kernel without the declaration: a warning, not a failure.
      Capabilities plain = kernel->declared();
      plain.apply({"backward"}, "--supports");
      kernel->override_capabilities(plain);
      const OpReport w = run_suite(*kernel, o);
      EXPECT_TRUE(w.passed());
      EXPECT_EQ(verdict(w, "BWD-DETERMINISM").status, VerdictStatus::warning);
    }
  }
  std::printf("[ kill rate ] %-26s %2d/20 seeds (declared deterministic)\n", "bwd_nondeterministic", killed);
  EXPECT_EQ(killed, 20);
  Capabilities parsed;
  parsed.apply({"deterministic"}, "--supports");
  EXPECT_TRUE(parsed.deterministic);
  EXPECT_THAT(parsed.words(), HasSubstr("deterministic"));
}

// MASKED-INDEPENDENCE: nothing may flow from a masked key. PyTorch 1.13 (Debian's libtorch) lets a NaN
// in a masked value row through (pytorch#101967) and turns a masked score that overflowed to +inf into
// NaN; its builtins declare masked-finite, so they are held to the finite poisons only.
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
TEST(Tolerance, BackwardFailuresOnInputsWhereTheForwardFailsAreMarkedInherited) {
  ValidateOptions o = options(3, 6);
  o.properties = {"BWD-REFERENCE"};
  o.failure_dir.clear();
  o.shrink_seconds = 1;
  Capabilities caps;
  caps.backward = true;
  // The forward's bug carried into the backward (as when a backward recomputes the forward).
  const OpReport both = validate_callable(
      [](const symbreak_attention_problem& p) {
        const int rc = naive_attention(&p);
        p.out[0] += 1.0f;
        return rc;
      },
      o, "forward-bug",
      [](const symbreak_attention_backward_problem& b) {
        const int rc = naive_attention_backward(&b);
        b.d_q[0] += 1.0f;
        return rc;
      },
      caps);
  ASSERT_FALSE(both.passed());
  std::printf("[ inherited ] %s\n", first_failure(both)->message.c_str());
  EXPECT_THAT(first_failure(both)->inherited_from, HasSubstr("REFERENCE"));
  EXPECT_THAT(first_failure(both)->message, HasSubstr("inherited"));
  // A backward bug under a correct forward is the backward's own.
  const OpReport own = validate_callable([](const symbreak_attention_problem& p) { return naive_attention(&p); }, o,
                                         "backward-bug",
                                         [](const symbreak_attention_backward_problem& b) {
                                           const int rc = naive_attention_backward(&b);
                                           b.d_q[0] += 1.0f;
                                           return rc;
                                         },
                                         caps);
  ASSERT_FALSE(own.passed());
  EXPECT_EQ(first_failure(own)->inherited_from, "");
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
