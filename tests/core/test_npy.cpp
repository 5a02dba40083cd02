// The strict .npy reader: what NumPy writes is read back; everything else is rejected by name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "symbreak/npy.hpp"

namespace symbreak {
namespace {

using ::testing::HasSubstr;

std::string header(const std::string& dict, int major = 1) {
  std::string h = dict + "\n";
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  out += static_cast<char>(h.size() & 0xFF);
  out += static_cast<char>(h.size() >> 8);
  if (major == 2) out += std::string(2, '\0');
  return out + h;
}

std::string error_of(const std::string& bytes) {
  try {
    parse_npy(bytes, "x.npy");
  } catch (const NpyError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Npy, RoundTripsFloatAndByteArrays) {
  const std::vector<float> f{1.5f, -2, 3, 0.25f, 5, 6};
  const NpyArray a = parse_npy(npy_bytes(f, {2, 3}), "a");
  EXPECT_EQ(a.dtype, NpyArray::DType::f4);
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(a.f4, f);
  const NpyArray b = parse_npy(npy_bytes(std::vector<unsigned char>{1, 0, 1}, {3}), "b");
  EXPECT_EQ(b.u1, (std::vector<unsigned char>{1, 0, 1}));
  EXPECT_EQ(parse_npy(npy_bytes(std::vector<float>{7}, {}), "c").elements(), 1u);
  EXPECT_EQ(parse_npy(npy_bytes(std::vector<float>{}, {0, 4}), "d").elements(), 0u);
  // The header is padded to a multiple of 64 bytes, as NumPy does.
  EXPECT_EQ(npy_bytes(f, {2, 3}).size() % 64, 24u);
}

TEST(Npy, ReadsVersionTwoHeaders) {
  std::string bytes = header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 2);
  bytes += std::string(4, '\0');
  EXPECT_EQ(parse_npy(bytes, "v2").f4, (std::vector<float>{0}));
}

TEST(Npy, RejectsEverythingElseByName) {
  EXPECT_THAT(error_of("GIF89a"), HasSubstr("not a .npy file"));
  EXPECT_THAT(error_of(header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }") + std::string(8, '\0')),
              HasSubstr("'<f8' is not supported"));
  EXPECT_THAT(error_of(header("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }") + std::string(4, '\0')),
              HasSubstr("'>f4'"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }") + std::string(4, '\0')),
              HasSubstr("Fortran"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }") + std::string(4, '\0')),
              HasSubstr("truncated"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }") + std::string(8, '\0')),
              HasSubstr("trailing bytes"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1), }") + std::string(4, '\0')),
              HasSubstr("trailing comma"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")), HasSubstr("shape"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'shape': (1,), }") + std::string(4, '\0')),
              HasSubstr("needs descr, fortran_order and shape"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }")),
              HasSubstr("repeated key"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1, }")), HasSubstr("'extra'"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 3)), HasSubstr("version 3.0"));
  std::string no_newline = header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }");
  no_newline[no_newline.size() - 1] = ' ';
  EXPECT_THAT(error_of(no_newline + std::string(4, '\0')), HasSubstr("newline"));
  EXPECT_THAT(error_of(header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,99999999999,99999999999), }")),
              HasSubstr("too large"));
  EXPECT_THROW(read_npy("/nonexistent/x.npy"), NpyError);
}

}  // namespace
}  // namespace symbreak
