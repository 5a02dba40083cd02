#include "symbreak/properties/search.hpp"

#include <rapidcheck.h>
#include <rapidcheck/detail/Configuration.h>
#include <rapidcheck/detail/TestListener.h>

#include <cstdlib>
#include <unordered_map>

namespace symbreak::properties {
namespace {

using Clock = std::chrono::steady_clock;

class SilentListener : public rc::detail::TestListener {
 public:
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

bool rc_params_set() { return std::getenv("RC_PARAMS") != nullptr; }

std::uint64_t rc_params_seed() { return rc::detail::configuration().testParams.seed; }

int rc_params_max_success() { return rc::detail::configuration().testParams.maxSuccess; }

SearchResult search(const std::function<Trial(bool)>& trial, const SearchOptions& o) {
  SearchResult result;
  const Clock::time_point search_deadline = o.search_seconds > 0 ? after(o.search_seconds) : Clock::time_point::max();
  Clock::time_point shrink_deadline;
  const auto testable = [&]() {
    const auto now = Clock::now();
    if (!result.failed && now > search_deadline) {
      result.time_capped = true;
      return;
    }
    if (result.failed && now > shrink_deadline) {
      result.shrink_capped = true;
      return;
    }
    const Trial t = trial(result.failed);
    if (t == Trial::pass || t == Trial::skip) return;
    const bool error = t == Trial::error;
    if (!result.failed) {
      result.failed = true;
      result.failed_with_error = error;
      shrink_deadline = after(o.shrink_seconds);
    } else if (error != result.failed_with_error) {
      return;  // a different kind of failure is not a smaller version of this one
    }
    RC_FAIL(error ? "evaluation failed" : "property failed");
  };

  rc::detail::TestParams params;
  std::unordered_map<std::string, rc::detail::Reproduce> reproduce;
  if (o.honour_rc_params && rc_params_set()) {
    params = rc::detail::configuration().testParams;
    reproduce = rc::detail::configuration().reproduce;
  }
  params.seed = o.seed;
  params.maxSuccess = o.max_success;
  params.maxSize = o.max_size;
  params.disableShrinking = params.disableShrinking || !o.shrink;
  rc::detail::TestMetadata metadata;
  metadata.id = o.id;
  metadata.description = o.description;
  SilentListener listener;
  const rc::detail::TestResult r =
      rc::detail::checkProperty(rc::detail::toProperty(testable), metadata, params, listener, reproduce);

  rc::detail::FailureResult failure;
  rc::detail::GaveUpResult gave_up;
  rc::detail::Error error;
  if (r.match(failure)) {
    rc::detail::Configuration config;
    config.reproduce[metadata.id] = failure.reproduce;
    result.rc_reproduce = rc::detail::configToMinimalString(config);
  } else if (r.match(error)) {
    result.rapidcheck_error = error.description;
  } else if (r.match(gave_up)) {
    result.gave_up = gave_up.description;
  }
  return result;
}

}  // namespace symbreak::properties
