// Config validation and strict JSON parsing: every bad input names the field and what is allowed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "symbreak/config.hpp"
#include "symbreak/layers.hpp"

namespace symbreak {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string error_of(const std::string& json) {
  try {
    parse_config(json, "bad.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Config, ParsesEveryFieldAndRoundTrips) {
  const ModelConfig c = parse_config(R"({
    "vocab_size": 12, "context_length": 3, "d_model": 8, "heads": 2, "layers": 2, "d_ff": 16,
    "positional_encoding": "sinusoidal", "mask": "explicit",
    "explicit_mask": [[1,0,0],[1,1,0],[0,1,1]], "activation": "relu", "mlp": true,
    "layernorm": false, "final_layernorm": true, "layernorm_eps": 1e-6,
    "residual_attention": [true, false], "residual_mlp": false, "attention_scale": 0.25,
    "unlearned_bias": [{"query": [[0.5,0.5,0.5,0.5],[1,1,1,1]]}, {"value": [[0,0,0,1],[0,0,1,0]]}],
    "init": "scaled"})");
  EXPECT_EQ(c.vocab_size, 12);
  EXPECT_EQ(c.d_head(), 4);
  EXPECT_EQ(c.positional_encoding, PositionalEncoding::sinusoidal);
  EXPECT_TRUE(AttentionMask::of(c, 3).visible(1, 0));
  EXPECT_FALSE(AttentionMask::of(c, 3).visible(2, 0));
  EXPECT_EQ(c.activation, Activation::relu);
  EXPECT_FALSE(c.layernorm);
  EXPECT_TRUE(c.residual_attention_on(0));
  EXPECT_FALSE(c.residual_attention_on(1));
  EXPECT_FALSE(c.residual_mlp_on(0));
  EXPECT_EQ(*c.attention_scale, 0.25);
  EXPECT_EQ(c.unlearned_bias[0].query[1][0], 1.0);
  EXPECT_TRUE(c.unlearned_bias[1].query.empty());
  EXPECT_EQ(c.init, InitScheme::scaled);
  const ModelConfig again = parse_config(config_to_json(c));
  EXPECT_EQ(config_to_json(again), config_to_json(c));
}

TEST(Config, DefaultsAreDocumentedValues) {
  const ModelConfig c = parse_config("{}");
  EXPECT_EQ(c.d_ff, 4 * c.d_model);
  EXPECT_EQ(c.mask, MaskKind::none);
  EXPECT_EQ(c.positional_encoding, PositionalEncoding::none);
  EXPECT_TRUE(c.residual_attention_on(0));
}

TEST(Config, UnknownKeyIsNamedWithTheAllowedKeys) {
  EXPECT_THAT(error_of(R"({"head": 2})"),
              AllOf(HasSubstr("bad.json"), HasSubstr("unknown key \"head\""), HasSubstr("allowed:"), HasSubstr("heads")));
}

TEST(Config, NegativeOrZeroSizesAreRejected) {
  EXPECT_THAT(error_of(R"({"d_model": -4})"), AllOf(HasSubstr("\"d_model\": -4"), HasSubstr("allowed: 1 to")));
  EXPECT_THAT(error_of(R"({"layers": 0})"), AllOf(HasSubstr("\"layers\": 0"), HasSubstr("allowed: 1 to")));
  EXPECT_THAT(error_of(R"({"vocab_size": 0})"), HasSubstr("\"vocab_size\": 0"));
  EXPECT_THAT(error_of(R"({"context_length": 99999999999})"), HasSubstr("\"context_length\""));
}

TEST(Config, HeadsMustDivideWidth) {
  EXPECT_THAT(error_of(R"({"d_model": 64, "heads": 5})"),
              AllOf(HasSubstr("\"heads\": 5 does not divide \"d_model\": 64"), HasSubstr("allowed: a divisor")));
}

TEST(Config, WrongTypesAreRejected) {
  EXPECT_THAT(error_of(R"({"d_model": "64"})"), AllOf(HasSubstr("\"d_model\": \"64\""), HasSubstr("integer")));
  EXPECT_THAT(error_of(R"({"d_model": 16.5})"), HasSubstr("must be an integer"));
  EXPECT_THAT(error_of(R"({"layernorm": 1})"), AllOf(HasSubstr("\"layernorm\""), HasSubstr("true or false")));
  EXPECT_THAT(error_of(R"({"layernorm_eps": "small"})"), HasSubstr("must be a number"));
  EXPECT_THAT(error_of(R"([1, 2])"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(error_of(R"({"residual_mlp": [true]})"), HasSubstr("\"residual_mlp\""));
}

TEST(Config, UnknownEnumValuesListTheAllowedOnes) {
  EXPECT_THAT(error_of(R"({"mask": "casual"})"),
              AllOf(HasSubstr("\"mask\": \"casual\""), HasSubstr("allowed: none, causal, explicit")));
  EXPECT_THAT(error_of(R"({"positional_encoding": "rope"})"), HasSubstr("allowed: none, learned, sinusoidal"));
  EXPECT_THAT(error_of(R"({"activation": "swish"})"), HasSubstr("allowed: gelu, gelu_tanh, relu"));
}

TEST(Config, MasksAndBiasesAreChecked) {
  EXPECT_THAT(error_of(R"({"mask": "explicit"})"), HasSubstr("\"explicit_mask\""));
  EXPECT_THAT(error_of(R"({"context_length": 2, "mask": "explicit", "explicit_mask": [[1,0],[0,0]]})"), HasSubstr("row 1"));
  EXPECT_THAT(error_of(R"({"context_length": 2, "mask": "explicit", "explicit_mask": [[1,2],[0,1]]})"),
              HasSubstr("entries must be 0, 1"));
  EXPECT_THAT(error_of(R"({"explicit_mask": [[1]]})"), HasSubstr("\"mask\" is not \"explicit\""));
  EXPECT_THAT(error_of(R"({"layers": 1, "unlearned_bias": [{"query": [[1]]}]})"), HasSubstr("unlearned_bias[0].query"));
  EXPECT_THAT(error_of(R"({"layers": 1, "unlearned_bias": [{"quer": []}]})"),
              HasSubstr("unknown key \"unlearned_bias[0].quer\""));
}

TEST(Config, SyntaxErrorsNameTheSource) {
  EXPECT_THAT(error_of(R"({"d_model": )"), AllOf(HasSubstr("bad.json"), HasSubstr("not valid JSON")));
  EXPECT_THROW(load_config_file("/nonexistent/config.json"), ConfigError);
}

TEST(Config, MakeConfigValidates) {
  EXPECT_THROW(make_config(16, 16, 10, 3, 1), ConfigError);
  EXPECT_NO_THROW(make_config(16, 16, 12, 3, 1));
}

}  // namespace
}  // namespace symbreak
