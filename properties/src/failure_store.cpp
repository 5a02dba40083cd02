#include "failure_store.hpp"

#include <filesystem>
#include <stdexcept>

#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"
#include "symbreak/text.hpp"

namespace symbreak::properties {

using nlohmann::json;

std::string failure_file_prefix(const Property& property, Precision arith) {
  return std::string(property.name) + "-" + std::string(to_string(arith)) + "-";
}

namespace {

json target_json(const Target& target) {
  return {{"target", target.name}, {"fault", std::string(to_string(target.fault.fault))}, {"epsilon", target.fault.epsilon}};
}

}  // namespace

std::string save_failure(const CheckOptions& options, const Property& property, Precision arith, const Target& target,
                         const Finding& finding) {
  if (options.failure_dir.empty()) return "";
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.failure_dir, ec);
  const std::string body = case_to_json(finding.found);
  const fs::path path =
      fs::path(options.failure_dir) / (failure_file_prefix(property, arith) + text::hex(stream_seed(0, body)) + ".json");
  json j = target_json(target);
  j["property"] = property.name;
  j["arith"] = to_string(arith);
  j["case"] = json::parse(body);
  j["element"] = finding.element;
  j["deviation"] = finding.deviation;
  j["bound"] = finding.bound;
  j["exact_difference"] = finding.exact_difference;
  try {
    write_file_atomically(path.string(), j.dump(2) + "\n");
  } catch (const std::runtime_error&) {
    return "";  // the run still reports the finding; only the database entry is missing
  }
  return path.string();
}

StoredFailure load_failure(const std::string& path, const Property** property, Precision* arith) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::runtime_error& e) {
    throw ConfigError(e.what());
  }
  const json j = parse_json_text(text, path);
  StrictObject o(j, path, "");
  StoredFailure f;
  f.path = path;
  const std::string name = o.string("property", "");
  try {
    *property = &find_property(name);
    *arith = arith_from_string(o.string("arith", ""));
    f.fault.fault = fault_from_string(o.string("fault", "none"));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(path + ": " + e.what());
  }
  f.fault.epsilon = o.number("epsilon", 1e-3, 0, 1e6);
  f.target = o.string("target", "reference");
  const json* c = o.get("case");
  if (!c) o.fail("case", "is required");
  f.stored = case_from_json(c->dump(), path);
  o.get("element");
  o.get("deviation");
  o.get("bound");
  o.get("exact_difference");
  o.finish();
  return f;
}

}  // namespace symbreak::properties
