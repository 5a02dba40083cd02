// T7, the Bayes ceiling: the best accuracy any predictor can reach on 3-digit addition if its
// prediction for answer digit k depends only on the multiset of the tokens before it and on the last
// token (what a model without positional information reads at the last position). Computed exactly
// by enumerating all 10^6 problems.
//
// Task format (experiments/): prompt "abc+def=" with operands zero-padded to 3 digits, then the
// 4-digit sum least-significant digit first, e.g. 123+456= → 9750. Format tokens (BOS, delimiters)
// add the same tokens to every multiset and change nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "symbreak/exact.hpp"

namespace symbreak::proofs {

struct DigitCeiling {
  int digit = 0;  // 0 = units (the first answer token)
  Exact ceiling;  // Σ over information classes of the largest class count / 10^6
  std::size_t classes = 0;
};

struct AdditionCeiling {
  std::vector<DigitCeiling> digits;  // 4
  // The whole answer under teacher forcing: every digit right. Its exact ceiling is at most the
  // smaller of the per-digit ceilings and of the exact joint ceiling of the first two digits (whose
  // information classes nest), and at least what an explicit predictor reaches (the per-digit Bayes
  // predictors, improved by coordinate ascent on the joint objective). When the two meet, it is exact.
  Exact whole_upper_bound, whole_lower_bound;
  std::size_t problems = 0;
  double seconds = 0;
};

AdditionCeiling addition3_ceiling();
std::string ceiling_json(const AdditionCeiling& c);

}  // namespace symbreak::proofs
