// Strict reading of JSON objects: every key must be known, every value must have the right type and
// range, and each error names the source, the field path, the value and what is allowed.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "symbreak/config.hpp"

namespace symbreak {

// Short JSON text for a value in an error message (long values are elided).
std::string json_excerpt(const nlohmann::json& value);

class StrictObject {
 public:
  // `path` is the JSON path of this object ("" for the root), used in messages as "model.heads".
  StrictObject(const nlohmann::json& object, std::string source, std::string path);

  bool has(std::string_view key) const;
  // The raw value (marks the key as known); nullptr when absent.
  const nlohmann::json* get(std::string_view key);

  std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min, std::int64_t max);
  std::optional<std::int64_t> optional_integer(std::string_view key, std::int64_t min, std::int64_t max);
  double number(std::string_view key, double fallback, double min, double max);
  std::optional<double> optional_number(std::string_view key, double min, double max);
  bool boolean(std::string_view key, bool fallback);
  std::string string(std::string_view key, std::string fallback);
  // One of `allowed`; returns its index.
  std::size_t choice(std::string_view key, std::size_t fallback, std::initializer_list<std::string_view> allowed);
  // A nested object; absent gives an empty object.
  StrictObject object(std::string_view key);

  // Throws for any key that no accessor asked for, listing the allowed keys.
  void finish(std::initializer_list<std::string_view> also_allowed = {});

  [[noreturn]] void fail(std::string_view key, const std::string& what) const;
  std::string field(std::string_view key) const;  // "\"model.heads\""
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& value(std::string_view key) const;
  nlohmann::json object_;
  std::string source_, path_;
  std::set<std::string, std::less<>> known_;
};

// The model part of a config from a JSON object (used by the experiments' configs too).
ModelConfig parse_config_object(const nlohmann::json& object, std::string_view source, std::string_view path);

// Parses text as JSON; a syntax error becomes a ConfigError naming the source and the byte offset.
nlohmann::json parse_json_text(std::string_view text, std::string_view source);

}  // namespace symbreak
