// The one RapidCheck search driver of symbreak (the model catalogue's runner and the kernel
// validator both use it): random search within a deadline, then shrinking within its own deadline,
// where a shrink candidate counts only if it fails the same way the first failure did. This file and
// search.cpp are the only ones that touch RapidCheck's internals (rc::detail).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace symbreak::properties {

// What one trial found. A trial draws its case with rc::Gen's operator* (it runs inside the search)
// and evaluates it; the caller keeps the case it last saw failing.
enum class Trial {
  pass,   // the property holds on this case
  fail,   // it does not
  error,  // the case could not be evaluated (a different kind of failure: shrinks stay within a kind)
  skip,   // not evaluated (counted as nothing)
};

struct SearchOptions {
  std::uint64_t seed = 0;
  int max_success = 100;  // trials that must pass
  int max_size = 100;     // RapidCheck's size limit
  bool shrink = true;
  double search_seconds = 0;  // 0: no time cap on the search
  double shrink_seconds = 30;
  std::string id;  // names the property in RapidCheck's reproduce string
  std::string description;
  bool honour_rc_params = false;  // take the parameters and reproduce map from RC_PARAMS when it is set
};

struct SearchResult {
  bool failed = false;
  bool failed_with_error = false;  // the first failure was an error
  bool time_capped = false, shrink_capped = false;
  std::string rc_reproduce;      // RC_PARAMS value that replays the failing search
  std::string rapidcheck_error;  // RapidCheck itself could not run
  std::string gave_up;
};

// Runs the search. `trial(shrinking)` is called for every case; `shrinking` is true once a failure
// has been found (the caller should then not count the case as searched).
SearchResult search(const std::function<Trial(bool shrinking)>& trial, const SearchOptions& options);

// RC_PARAMS as RapidCheck read it: whether it is set, and its seed.
bool rc_params_set();
std::uint64_t rc_params_seed();
int rc_params_max_success();

}  // namespace symbreak::properties
