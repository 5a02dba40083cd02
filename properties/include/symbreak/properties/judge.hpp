// Deciding a comparison. In Exact the two sides must be equal (a broken symmetry is a nonzero exact
// difference). In float the deviation is compared with a bound derived from the exact reference:
//
//   max|actual_T - expected_T| <= c · err_ref + atol
//
// where err_ref is the float error of the same computation measured against Exact (FlashAttention's
// rule err <= c·err_ref + atol), c = 2 by default and atol = atol_ulps · u_T · S, S the magnitude of
// the outputs. If the exact sides are equal, the float deviation is at most err(actual) + err(expected)
// <= 2·err_ref, so with err_ref the larger of the two errors the bound never fails a true symmetry;
// it fails exactly when the symmetry is broken by more than float rounding can explain.
#pragma once

#include <string>

#include "symbreak/exact.hpp"
#include "symbreak/properties/catalogue.hpp"

namespace symbreak::properties {

struct ToleranceRule {
  double c = 2.0;          // multiple of the reference error
  double atol_ulps = 2.0;  // absolute slack, in units of u_T · S
};

// Where the largest deviation is, and how large.
struct Deviation {
  Exact value{0};  // exact |actual - expected| at the worst element (exact conversion of floats)
  int row = -1, col = -1;
  bool finite = true;  // false when a float side is NaN or infinite
  double as_double() const { return finite ? exact_to_double(value) : std::numeric_limits<double>::infinity(); }
};

template <class T>
Deviation deviation(const Comparison<T>& c);

// The largest |float - exact| over both sides of a comparison.
template <class T>
Deviation reference_error(const Comparison<T>& floats, const Comparison<Exact>& exact);

// Magnitude of the outputs: max(1, max|expected|).
template <class T>
double output_scale(const Comparison<T>& c);

template <class T>
constexpr double unit_roundoff() {
  return std::is_same_v<T, float> ? 0x1p-24 : 0x1p-53;
}

// The outcome of one probe in float.
struct FloatJudgement {
  double deviation = 0;  // max|actual - expected| in float
  double bound = 0;      // c·err_ref + atol
  double err_ref = 0, atol = 0;
  bool calibrated = true;  // err_ref from the case's calibration probe (else measured on this probe)
  bool symmetric = true;   // deviation within bound (or confirmed exactly equal)
  int row = -1, col = -1;
};

// "element (position 3, logit 5)" for a report.
std::string element_name(const std::vector<int>& rows, const std::string& row_label, int row, int col);

}  // namespace symbreak::properties
