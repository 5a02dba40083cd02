// A plain-text table with columns sized to their contents, for reports a person reads at a glance.
#pragma once

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

namespace symbreak::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) {
    row.resize(header_.size());
    rows_.push_back(std::move(row));
  }
  void print(std::ostream& out) const {
    std::vector<std::size_t> width(header_.size());
    for (std::size_t c = 0; c < header_.size(); ++c) {
      width[c] = header_[c].size();
      for (const auto& r : rows_) width[c] = std::max(width[c], display_width(r[c]));
    }
    const auto line = [&](const std::vector<std::string>& r) {
      std::string s;
      for (std::size_t c = 0; c < r.size(); ++c) {
        s += r[c];
        if (c + 1 < r.size()) s += std::string(width[c] - display_width(r[c]) + 2, ' ');
      }
      out << s << '\n';
    };
    line(header_);
    for (const auto& r : rows_) line(r);
  }

 private:
  // Counts UTF-8 code points, so "Δ" and "σ" take one column.
  static std::size_t display_width(const std::string& s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
  }
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace symbreak::cli
