#include "symbreak/npy.hpp"

#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace symbreak {
namespace {

constexpr std::size_t kMaxHeader = 1 << 16;
constexpr std::size_t kMaxElements = std::size_t(1) << 32;

[[noreturn]] void fail(const std::string& name, const std::string& what) { throw NpyError(name + ": " + what); }

// A cursor over the header's Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(name_, std::string("malformed header: expected '") + c + "' at header byte " + std::to_string(i_));
  }
  std::string quoted() {
    skip_space();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) fail(name_, "malformed header: expected a quoted string");
    const char quote = s_[i_++];
    const std::size_t end = s_.find(quote, i_);
    if (end == std::string_view::npos) fail(name_, "malformed header: unterminated string");
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    fail(name_, "malformed header: fortran_order must be True or False");
  }
  std::vector<std::size_t> shape() {
    expect('(');
    std::vector<std::size_t> dims;
    bool trailing_comma = false;
    while (!eat(')')) {
      skip_space();
      if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9')
        fail(name_, "malformed header: shape must be a tuple of non-negative integers");
      std::size_t v = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        if (v > (std::numeric_limits<std::size_t>::max() - 9) / 10) fail(name_, "shape dimension too large");
        v = v * 10 + static_cast<std::size_t>(s_[i_++] - '0');
      }
      if (s_.size() > i_ && s_[i_] == 'L') ++i_;  // Python 2 longs, as old numpy wrote them
      dims.push_back(v);
      trailing_comma = eat(',');
      if (!trailing_comma) {
        expect(')');
        break;
      }
    }
    if (dims.size() == 1 && !trailing_comma) fail(name_, "malformed header: a one-element shape needs a trailing comma");
    if (dims.size() > 32) fail(name_, "shape has more than 32 dimensions");
    return dims;
  }
  bool at_end() {
    skip_space();
    return i_ == s_.size();
  }

 private:
  std::string_view s_;
  const std::string& name_;
  std::size_t i_ = 0;
};

std::uint32_t read_le(std::string_view bytes, std::size_t at, int width) {
  std::uint32_t v = 0;
  for (int b = width - 1; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(bytes[at + b]);
  return v;
}

std::string header_bytes(const char* descr, const std::vector<std::size_t>& shape) {
  std::string tuple = "(";  // Python's repr: (), (3,), (2, 3)
  for (std::size_t i = 0; i < shape.size(); ++i) tuple += (i ? ", " : "") + std::to_string(shape[i]);
  tuple += shape.size() == 1 ? ",)" : ")";
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + tuple + ", }";
  // Version 1.0 when the header fits in 16 bits; the total is padded to a multiple of 64 bytes.
  const bool v1 = dict.size() + 1 + 10 < 65536;
  const std::size_t prefix = v1 ? 10 : 12;
  const std::size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(v1 ? 1 : 2);
  out += '\0';
  const std::size_t len = dict.size();
  for (std::size_t b = 0; b < (v1 ? 2u : 4u); ++b) out += static_cast<char>((len >> (8 * b)) & 0xFF);
  return out + dict;
}

template <class V>
std::string with_data(std::string header, const std::vector<V>& values) {
  const std::size_t at = header.size();
  header.resize(at + values.size() * sizeof(V));
  if (!values.empty()) std::memcpy(header.data() + at, values.data(), values.size() * sizeof(V));
  return header;
}

std::size_t product(const std::vector<std::size_t>& shape, const std::string& name) {
  std::size_t n = 1;
  for (std::size_t d : shape) {
    if (d != 0 && n > kMaxElements / d) fail(name, "array too large");
    n *= d;
  }
  return n;
}

}  // namespace

std::size_t NpyArray::elements() const {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

NpyArray parse_npy(std::string_view bytes, const std::string& name) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != std::string_view("\x93NUMPY", 6))
    fail(name, "not a .npy file (missing the \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  if (!((major == 1 || major == 2) && minor == 0))
    fail(name, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) + " (allowed: 1.0, 2.0)");
  const std::size_t prefix = major == 1 ? 10 : 12;
  if (bytes.size() < prefix) fail(name, "truncated .npy header");
  const std::size_t header_len = read_le(bytes, 8, major == 1 ? 2 : 4);
  if (header_len > kMaxHeader) fail(name, "header of " + std::to_string(header_len) + " bytes is too large");
  if (bytes.size() < prefix + header_len) fail(name, "truncated .npy header");
  const std::string_view header = bytes.substr(prefix, header_len);
  if (header.empty() || header.back() != '\n') fail(name, "malformed header: it must end with a newline");
  for (char c : header)
    if (static_cast<unsigned char>(c) >= 0x80 || (c < 0x20 && c != '\n')) fail(name, "malformed header: non-ASCII byte");

  HeaderParser p(header.substr(0, header.size() - 1), name);
  p.expect('{');
  bool have_descr = false, have_order = false, have_shape = false;
  NpyArray array;
  while (!p.eat('}')) {
    const std::string key = p.quoted();
    p.expect(':');
    if (key == "descr" && !have_descr) {
      const std::string descr = p.quoted();
      if (descr == "<f4") array.dtype = NpyArray::DType::f4;
      else if (descr == "|u1") array.dtype = NpyArray::DType::u1;
      else if (descr == "<f2") array.dtype = NpyArray::DType::f2;
      else if (descr == "<u2") array.dtype = NpyArray::DType::u2;
      else fail(name, "dtype '" + descr + "' is not supported (allowed: '<f4' float32, '|u1' uint8, '<f2' float16, '<u2' uint16)");
      have_descr = true;
    } else if (key == "fortran_order" && !have_order) {
      if (p.boolean()) fail(name, "Fortran-order arrays are not supported (allowed: C order)");
      have_order = true;
    } else if (key == "shape" && !have_shape) {
      array.shape = p.shape();
      have_shape = true;
    } else {
      fail(name, "malformed header: unexpected or repeated key '" + key + "'");
    }
    if (!p.eat(',')) {
      p.expect('}');
      break;
    }
  }
  if (!p.at_end()) fail(name, "malformed header: text after the dictionary");
  if (!have_descr || !have_order || !have_shape) fail(name, "malformed header: needs descr, fortran_order and shape");

  const std::size_t n = product(array.shape, name);
  const std::size_t item = array.dtype == NpyArray::DType::f4 ? 4 : array.dtype == NpyArray::DType::u1 ? 1 : 2;
  const std::string_view data = bytes.substr(prefix + header_len);
  if (data.size() != n * item)
    fail(name, "data holds " + std::to_string(data.size()) + " bytes, the shape needs " + std::to_string(n * item) +
                   (data.size() < n * item ? " (truncated file)" : " (trailing bytes)"));
  if (array.dtype == NpyArray::DType::f4) {
    array.f4.resize(n);
    if (n) std::memcpy(array.f4.data(), data.data(), n * 4);  // little-endian host (x86-64)
  } else if (item == 2) {
    array.u16.resize(n);
    if (n) std::memcpy(array.u16.data(), data.data(), n * 2);
  } else {
    array.u1.assign(data.begin(), data.end());
  }
  return array;
}

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NpyError(path + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw NpyError(path + ": cannot read");
  return parse_npy(s.str(), path);
}

std::string npy_bytes(const std::vector<float>& values, const std::vector<std::size_t>& shape) {
  return with_data(header_bytes("<f4", shape), values);
}

std::string npy_bytes(const std::vector<unsigned char>& values, const std::vector<std::size_t>& shape) {
  return with_data(header_bytes("|u1", shape), values);
}

std::string npy_bytes(const std::vector<std::uint16_t>& bits, const std::vector<std::size_t>& shape, bool as_uint16) {
  return with_data(header_bytes(as_uint16 ? "<u2" : "<f2", shape), bits);
}

std::string npy_bytes(const std::vector<std::int32_t>& values, const std::vector<std::size_t>& shape) {
  return with_data(header_bytes("<i4", shape), values);
}

std::string npy_bytes(const std::vector<double>& values, const std::vector<std::size_t>& shape) {
  return with_data(header_bytes("<f8", shape), values);
}

}  // namespace symbreak
