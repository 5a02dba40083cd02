// A dense row-major matrix over any arithmetic. Deliberately minimal: the model code indexes it
// directly (as llm.c does with raw arrays), and the heavy products go through ops.hpp.
#pragma once

#include <cassert>
#include <cstddef>
#include <vector>

namespace symbreak {

template <class T>
struct Tensor {
  int rows = 0;
  int cols = 0;
  std::vector<T> data;

  Tensor() = default;
  Tensor(int r, int c) : rows(r), cols(c), data(static_cast<std::size_t>(r) * c, T(0)) {}
  Tensor(int r, int c, const T& fill) : rows(r), cols(c), data(static_cast<std::size_t>(r) * c, fill) {}

  // Reshapes, reusing storage. Contents are unspecified afterwards unless zero() is called.
  void resize(int r, int c) {
    rows = r;
    cols = c;
    data.resize(static_cast<std::size_t>(r) * c);
  }
  void zero() {
    for (auto& v : data) v = T(0);
  }
  std::size_t size() const { return data.size(); }
  T& operator()(int r, int c) {
    assert(r >= 0 && r < rows && c >= 0 && c < cols);
    return data[static_cast<std::size_t>(r) * cols + c];
  }
  const T& operator()(int r, int c) const {
    assert(r >= 0 && r < rows && c >= 0 && c < cols);
    return data[static_cast<std::size_t>(r) * cols + c];
  }
  T* row(int r) { return data.data() + static_cast<std::size_t>(r) * cols; }
  const T* row(int r) const { return data.data() + static_cast<std::size_t>(r) * cols; }
  bool same_shape(const Tensor& o) const { return rows == o.rows && cols == o.cols; }
  bool operator==(const Tensor& o) const { return same_shape(o) && data == o.data; }
};

// Element-wise conversion; `convert` decides the arithmetic (exact for float→double→Exact).
template <class To, class From, class Convert>
Tensor<To> tensor_cast(const Tensor<From>& t, Convert convert) {
  Tensor<To> out(t.rows, t.cols);
  for (std::size_t i = 0; i < t.data.size(); ++i) out.data[i] = convert(t.data[i]);
  return out;
}

}  // namespace symbreak
