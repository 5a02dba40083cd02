// Text helpers shared by every report and table (terminal, JUnit XML, HTML, SVG): one of each.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace symbreak::text {

// 1.23e-04
inline std::string sci(double x) { return fmt::format("{:.2e}", x); }

// 0.3700, 0.4472, 1e+04: four significant digits, for values named in messages.
inline std::string shortest(double x) { return fmt::format("{:.4g}", x); }

// 16 hex digits, zero-padded: the fingerprints in file names.
inline std::string hex(std::uint64_t v) { return fmt::format("{:016x}", v); }

// Escapes for XML and HTML alike; control characters other than newline become spaces.
inline std::string escape_markup(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\t' ? ' ' : ch;
    }
  }
  return out;
}

// Columns taken on a terminal: UTF-8 code points ("Δ" and "σ" count once).
inline std::size_t display_width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
}

inline std::string pad(const std::string& s, std::size_t width) {
  const std::size_t w = display_width(s);
  return s + std::string(w < width ? width - w : 0, ' ');
}

}  // namespace symbreak::text
