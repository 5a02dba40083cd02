// A small strict XML reader for checking reports: well-formedness (matched tags, quoted attributes,
// known entities) and a tree to inspect. Enough for JUnit XML; not a general parser.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace symbreak::test {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<std::unique_ptr<XmlElement>> children;
  std::string text;
  std::vector<const XmlElement*> all(const std::string& child) const {
    std::vector<const XmlElement*> out;
    for (const auto& c : children)
      if (c->name == child) out.push_back(c.get());
    return out;
  }
};

class XmlReader {
 public:
  explicit XmlReader(std::string text) : s_(std::move(text)) {}
  std::unique_ptr<XmlElement> parse() {
    skip_space();
    if (s_.compare(i_, 5, "<?xml") == 0) {
      i_ = s_.find("?>", i_);
      if (i_ == std::string::npos) fail("unterminated XML declaration");
      i_ += 2;
    }
    skip_space();
    auto root = element();
    skip_space();
    if (i_ != s_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) { throw std::runtime_error("XML: " + what + " at byte " + std::to_string(i_)); }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  std::string name() {
    const std::size_t start = i_;
    while (i_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' || s_[i_] == '_' || s_[i_] == ':' || s_[i_] == '.'))
      ++i_;
    if (i_ == start) fail("expected a name");
    return s_.substr(start, i_ - start);
  }
  std::string decoded(std::size_t end) {
    std::string out;
    while (i_ < end) {
      if (s_[i_] == '&') {
        const std::size_t semi = s_.find(';', i_);
        if (semi == std::string::npos || semi > end) fail("unterminated entity");
        const std::string entity = s_.substr(i_ + 1, semi - i_ - 1);
        static const std::map<std::string, char> known{{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
        const auto it = known.find(entity);
        if (it == known.end()) fail("unknown entity &" + entity + ";");
        out += it->second;
        i_ = semi + 1;
      } else {
        if (s_[i_] == '<') fail("'<' in text");
        out += s_[i_++];
      }
    }
    return out;
  }
  std::unique_ptr<XmlElement> element() {
    if (s_[i_] != '<') fail("expected '<'");
    ++i_;
    auto e = std::make_unique<XmlElement>();
    e->name = name();
    for (;;) {
      skip_space();
      if (i_ >= s_.size()) fail("unterminated tag");
      if (s_.compare(i_, 2, "/>") == 0) {
        i_ += 2;
        return e;
      }
      if (s_[i_] == '>') {
        ++i_;
        break;
      }
      const std::string key = name();
      skip_space();
      if (s_[i_] != '=') fail("expected '=' after attribute " + key);
      ++i_;
      skip_space();
      if (s_[i_] != '"') fail("attribute " + key + " is not quoted");
      ++i_;
      const std::size_t close = s_.find('"', i_);
      if (close == std::string::npos) fail("unterminated attribute");
      if (e->attributes.count(key)) fail("duplicate attribute " + key);
      e->attributes[key] = decoded(close);
      i_ = close + 1;
    }
    for (;;) {
      const std::size_t lt = s_.find('<', i_);
      if (lt == std::string::npos) fail("unterminated element " + e->name);
      e->text += decoded(lt);
      if (s_.compare(i_, 2, "</") == 0) {
        i_ += 2;
        if (name() != e->name) fail("mismatched closing tag for " + e->name);
        skip_space();
        if (s_[i_] != '>') fail("expected '>'");
        ++i_;
        return e;
      }
      e->children.push_back(element());
    }
  }
  std::string s_;
  std::size_t i_ = 0;
};

}  // namespace symbreak::test
