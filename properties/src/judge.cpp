#include "symbreak/properties/judge.hpp"

#include "symbreak/arith.hpp"

#include <cmath>

namespace symbreak::properties {
template <class T>
Deviation deviation(const Comparison<T>& c) {
  Deviation worst;
  if (!c.expected.same_shape(c.actual)) throw std::logic_error("comparison sides differ in shape");
  if constexpr (std::is_same_v<T, Exact>) {
    for (int r = 0; r < c.expected.rows; ++r)
      for (int k = 0; k < c.expected.cols; ++k) {
        Exact d = c.actual(r, k) - c.expected(r, k);
        if (d < 0) d = -d;
        if (d > worst.value || worst.row < 0) {
          worst.value = d;
          worst.row = r;
          worst.col = k;
        }
      }
  } else {
    // Float deviations in double: exact for float32 inputs, and for float64 the rounding of one
    // subtraction is far below any bound it is compared with.
    double best = -1;
    for (int r = 0; r < c.expected.rows; ++r)
      for (int k = 0; k < c.expected.cols; ++k) {
        const double a = c.actual(r, k), e = c.expected(r, k);
        if (!std::isfinite(a) || !std::isfinite(e)) {
          worst.finite = false;
          worst.row = r;
          worst.col = k;
          return worst;
        }
        const double d = std::abs(a - e);
        if (d > best) {
          best = d;
          worst.row = r;
          worst.col = k;
        }
      }
    if (best >= 0) worst.value = exact_from_double(best);
  }
  return worst;
}

template <class T>
Deviation reference_error(const Comparison<T>& floats, const Comparison<Exact>& exact) {
  Deviation worst;
  const auto scan = [&](const Tensor<T>& f, const Tensor<Exact>& e) {
    for (int r = 0; r < f.rows; ++r)
      for (int k = 0; k < f.cols; ++k) {
        if constexpr (!std::is_same_v<T, Exact>) {
          if (!std::isfinite(f(r, k))) {
            worst.finite = false;
            worst.row = r;
            worst.col = k;
            return;
          }
        }
        Exact d = Arith<T>::to_exact(f(r, k)) - e(r, k);
        if (d < 0) d = -d;
        if (d > worst.value || worst.row < 0) {
          worst.value = d;
          worst.row = r;
          worst.col = k;
        }
      }
  };
  scan(floats.expected, exact.expected);
  if (worst.finite) scan(floats.actual, exact.actual);
  return worst;
}

template <class T>
double output_scale(const Comparison<T>& c) {
  double s = 1;
  for (const auto& v : c.expected.data) {
    const double a = std::abs(Arith<T>::to_double(v));
    if (a > s) s = a;
  }
  return s;
}

std::string element_name(const std::vector<int>& rows, const std::string& row_label, int row, int col) {
  if (row < 0) return "-";
  const int r = row < static_cast<int>(rows.size()) ? rows[row] : row;
  return row_label + " " + std::to_string(r) + ", logit " + std::to_string(col);
}

template Deviation deviation<float>(const Comparison<float>&);
template Deviation deviation<double>(const Comparison<double>&);
template Deviation deviation<Exact>(const Comparison<Exact>&);
template Deviation reference_error<float>(const Comparison<float>&, const Comparison<Exact>&);
template Deviation reference_error<double>(const Comparison<double>&, const Comparison<Exact>&);
template double output_scale<float>(const Comparison<float>&);
template double output_scale<double>(const Comparison<double>&);
template double output_scale<Exact>(const Comparison<Exact>&);

}  // namespace symbreak::properties
