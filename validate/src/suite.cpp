#include "symbreak/validate/suite.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "case_generators.hpp"
#include "symbreak/properties/search.hpp"
#include "symbreak/rng.hpp"
#include "symbreak/text.hpp"
#include "symbreak/validate/case_dir.hpp"

namespace symbreak::validate {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string_view to_string(VerdictStatus status) {
  switch (status) {
    case VerdictStatus::pass: return "pass";
    case VerdictStatus::fail: return "FAIL";
    case VerdictStatus::warning: return "warning";
    case VerdictStatus::not_applicable: return "n/a";
    case VerdictStatus::not_run: return "not run";
  }
  return "?";
}

bool OpReport::passed() const {
  return std::all_of(verdicts.begin(), verdicts.end(), [](const OpVerdict& v) { return v.passed(); });
}

namespace {

// A property's evaluation of one case; an exception inside the validator is an "error" outcome, a
// different kind of failure from a kernel that fails the property.
struct Evaluated {
  OpOutcome outcome;
  bool error = false;
};

Evaluated evaluate(const OpProperty& p, Kernel& kernel, const OpCase& c, const ValidateOptions& o) {
  try {
    // A kernel that declares itself deterministic is held to it; otherwise differences are warnings.
    const bool strict = o.strict_determinism || kernel.capabilities().deterministic;
    return {p.check(kernel, c, o.tolerance, strict), false};
  } catch (const std::exception& e) {
    OpOutcome out;
    out.passed = false;
    out.message = std::string("evaluation failed: ") + e.what();
    return {out, true};
  }
}

// Values toward simple numbers: whole arrays rounded, then single entries set to 0 or rounded, keeping
// each change that still fails the same way and stays inside the region. Bounded by time and size.
OpCase simplify_values(const OpProperty& p, Kernel& kernel, OpCase c, const ValidateOptions& o, const Capabilities& caps,
                       Clock::time_point deadline) {
  const auto still_fails = [&](const OpCase& candidate) {
    try {
      candidate.op.validate();
    } catch (const std::invalid_argument&) {
      return false;
    }
    if (!caps.allows(candidate.op)) return false;
    const Evaluated e = evaluate(p, kernel, candidate, o);
    return !e.outcome.passed && !e.error;
  };
  if (c.op.q.size() + c.op.k.size() + c.op.v.size() > 4096) return c;  // large cases: exact references cost too much
  for (std::vector<float> AttentionOp::*field : {&AttentionOp::q, &AttentionOp::k, &AttentionOp::v, &AttentionOp::d_out}) {
    if ((c.op.*field).empty()) continue;
    for (double unit : {1.0, 0.5, 0.25}) {
      if (Clock::now() > deadline) return c;
      OpCase candidate = c;
      for (float& x : candidate.op.*field) x = static_cast<float>(std::round(x / unit) * unit);
      candidate.op.round_to_dtype();
      if (candidate.op.*field != c.op.*field && still_fails(candidate)) {
        c = candidate;
        break;
      }
    }
    if ((c.op.*field).size() > 64) continue;
    for (std::size_t i = 0; i < (c.op.*field).size(); ++i) {
      for (float simpler : {0.0f, std::round((c.op.*field)[i])}) {
        if (Clock::now() > deadline) return c;
        if ((c.op.*field)[i] == simpler) break;
        OpCase candidate = c;
        (candidate.op.*field)[i] = simpler;
        if (still_fails(candidate)) {
          c = candidate;
          break;
        }
      }
    }
  }
  return c;
}

std::string sanitize(std::string name) {
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '_';
  return name;
}

std::string modes_text(const std::vector<MaskMode>& modes) {
  std::string s;
  for (MaskMode m : modes) s += (s.empty() ? "" : ", ") + std::string(to_string(m));
  return s;
}

Clock::duration seconds(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }

// A failing case and what the kernel did on it.
struct Failure {
  OpCase found;
  OpOutcome outcome;
  bool is_error = false;  // the kernel failed to run (crash, refusal, bad output), not a wrong value
};

// One property on one kernel: its edge cases, then the search, then the report of the worst case.
class PropertyRun {
 public:
  PropertyRun(const OpProperty& p, Kernel& kernel, const Capabilities& caps, const ValidateOptions& o)
      : p_(p), kernel_(kernel), caps_(caps), o_(o) {
    v_.property = p.name;
    v_.skipped = skipped_kinds(p, caps);
    modes_ = property_modes(p, caps);
    v_.region = modes_text(modes_);
  }

  OpVerdict run(Clock::time_point deadline) {
    const auto started = Clock::now();
    if (p_.pass == Pass::backward && !caps_.backward) {
      v_.status = VerdictStatus::not_applicable;
      v_.message = "not applicable: the kernel has no backward pass";
    } else if (modes_.empty()) {
      v_.status = VerdictStatus::not_applicable;
      v_.message = "not applicable: needs " + std::string(p_.needs) + ", which the kernel does not support";
    } else {
      // The edge cases cannot be shrunk, so after one fails the search still runs: a smaller
      // generated failure, shrunk, is the better report.
      std::optional<Failure> failure = run_edge_cases();
      if (std::optional<Failure> searched = search(deadline)) failure = std::move(searched);
      if (failure) report_failure(*failure);
      else v_.status = warned_ ? VerdictStatus::warning : VerdictStatus::pass;
    }
    v_.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return v_;
  }

 private:
  // Counts a case and keeps the one closest to its bound (or the first warning) as the evidence.
  void tally(const OpCase& c, const OpOutcome& out) {
    ++v_.cases;
    const double ratio = out.bound > 0 ? out.error / out.bound : out.error;
    if (ratio > closest_ratio_) {
      closest_ratio_ = ratio;
      v_.worst_error = out.error;
      v_.worst_bound = out.bound;
      v_.element = out.element;
      v_.shape = c.op.shape_string();
    }
    if (out.warning && !warned_) {
      warned_ = true;
      v_.message = out.message + " at " + out.element.text() + " (" + c.op.shape_string() + ")";
    }
    if (o_.progress) o_.progress(v_.property, v_.cases, o_.cases);
  }

  // The edge cases, in every supported mode; the first failing one.
  std::optional<Failure> run_edge_cases() {
    if (!p_.robust || !o_.edge_cases) return std::nullopt;
    for (const OpCase& c : edge_cases(p_, caps_)) {
      const Evaluated e = evaluate(p_, kernel_, c, o_);
      tally(c, e.outcome);
      if (!e.outcome.passed) return Failure{c, e.outcome, e.error};
    }
    return std::nullopt;
  }

  // The random search with shrinking; the shrunk failing case.
  std::optional<Failure> search(Clock::time_point deadline) {
    const auto gen = case_gen(p_, caps_);
    std::optional<Failure> last;  // after shrinking, the minimal one
    const auto trial = [&](bool shrinking) {
      const OpCase c = *gen;
      const Evaluated e = evaluate(p_, kernel_, c, o_);
      if (!shrinking) tally(c, e.outcome);
      if (e.outcome.passed) return properties::Trial::pass;
      last = Failure{c, e.outcome, e.error};
      return e.error ? properties::Trial::error : properties::Trial::fail;
    };
    properties::SearchOptions so;
    so.seed = stream_seed(o_.seed, std::string(p_.name));
    so.max_success = o_.cases;
    so.max_size = 100;
    so.search_seconds =
        deadline == Clock::time_point::max() ? 0 : std::max(1e-3, std::chrono::duration<double>(deadline - Clock::now()).count());
    so.shrink_seconds = o_.shrink_seconds;
    so.id = std::string(p_.name);
    const properties::SearchResult result = properties::search(trial, so);
    if (result.time_capped && !result.failed) v_.message = "time budget reached after " + std::to_string(v_.cases) + " cases";
    return result.failed ? last : std::nullopt;
  }

  // Simplifies the failing case's values, fills the verdict from it and saves it with a replay line.
  void report_failure(Failure failure) {
    const OpCase simple =
        simplify_values(p_, kernel_, failure.found, o_, caps_, Clock::now() + seconds(std::min(o_.shrink_seconds, 3.0)));
    if (const Evaluated e = evaluate(p_, kernel_, simple, o_); !e.outcome.passed && e.error == failure.is_error)
      failure = Failure{simple, e.outcome, e.error};
    v_.status = VerdictStatus::fail;
    v_.worst_error = failure.outcome.error;
    v_.worst_bound = failure.outcome.bound;
    v_.element = failure.outcome.element;
    v_.message = failure.outcome.message;
    v_.shape = failure.found.op.shape_string();
    if (p_.pass == Pass::backward) note_forward_failure(failure.found);
    if (!o_.failure_dir.empty()) save(failure);
    if (v_.replay.empty())
      v_.replay = "symbreak validate " + kernel_.cli_flags() + " --property " + std::string(p_.name) + " --seed " +
                  std::to_string(o_.seed);
  }

  // Checks the kernel's forward pass on the failing backward case's input (REFERENCE); if it fails
  // there too, the backward failure is marked as inherited from it.
  void note_forward_failure(const OpCase& backward_case) {
    OpCase forward = backward_case;
    forward.op.d_out.clear();
    const Evaluated e = evaluate(find_op_property("REFERENCE"), kernel_, forward, o_);
    if (e.outcome.passed) return;
    v_.inherited_from = "REFERENCE: " + e.outcome.message;
    v_.message += " [inherited: the kernel's forward pass already fails REFERENCE on this input (" + e.outcome.message +
                  "); fix the forward first]";
  }

  void save(const Failure& failure) {
    const json transform = {{"permutation", failure.found.transform.permutation},
                            {"position", failure.found.transform.position},
                            {"seed", failure.found.transform.seed}};
    const json extra = {{"property", p_.name},
                        {"kernel", kernel_.name()},
                        {"transform", transform},
                        {"message", failure.outcome.message},
                        {"element", failure.outcome.element.text()}};
    const std::string dir = o_.failure_dir + "/" + sanitize(kernel_.name()) + "/" + std::string(p_.name) + "-" +
                            text::hex(stream_seed(o_.seed, extra.dump() + failure.found.op.shape_string()));
    try {
      write_case_dir(dir, failure.found.op, extra.dump());
      v_.counterexample_dir = dir;
      v_.replay = "symbreak validate " + kernel_.cli_flags() + " --replay " + dir;
    } catch (const std::exception& e) {
      v_.message += " (could not save the case: " + std::string(e.what()) + ")";
    }
  }

  const OpProperty& p_;
  Kernel& kernel_;
  const Capabilities& caps_;
  const ValidateOptions& o_;
  std::vector<MaskMode> modes_;
  OpVerdict v_;
  double closest_ratio_ = -1;
  bool warned_ = false;
};

}  // namespace

OpReport run_suite(Kernel& kernel, const ValidateOptions& o) {
  const auto started = Clock::now();
  const Capabilities caps = kernel.capabilities();
  OpReport report;
  report.kernel = kernel.name();
  report.capabilities = caps.text();
  report.seed = o.seed;
  std::vector<const OpProperty*> selected;
  if (o.properties.empty()) {
    for (const OpProperty& p : op_catalogue())
      if (p.pass == Pass::forward || (!o.forward_only && caps.backward)) selected.push_back(&p);
  } else {
    for (const auto& name : o.properties) selected.push_back(&find_op_property(name));
  }
  bool stop = false;
  for (std::size_t index = 0; index < selected.size(); ++index) {
    if (stop) {
      OpVerdict skipped;
      skipped.property = selected[index]->name;
      skipped.status = VerdictStatus::not_run;
      skipped.message = "not run: an earlier property failed (fail-fast)";
      report.verdicts.push_back(skipped);
      continue;
    }
    // The time budget is shared out among the properties still to run.
    Clock::time_point deadline = Clock::time_point::max();
    if (o.time_budget > 0) {
      const double remaining = o.time_budget - std::chrono::duration<double>(Clock::now() - started).count();
      deadline = Clock::now() + seconds(std::max(0.0, remaining / static_cast<double>(selected.size() - index)));
    }
    report.verdicts.push_back(PropertyRun(*selected[index], kernel, caps, o).run(deadline));
    stop = o.fail_fast && !report.verdicts.back().passed();
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

int SeedsReport::seeds_passed() const {
  return static_cast<int>(std::count_if(runs.begin(), runs.end(), [](const SeedRun& r) { return r.passed; }));
}

SeedsReport run_seeds(Kernel& kernel, ValidateOptions options, std::uint64_t first, std::uint64_t last,
                      const std::function<void(const SeedRun&)>& on_seed) {
  SeedsReport seeds;
  for (std::uint64_t seed = first; seed <= last; ++seed) {
    options.seed = seed;
    OpReport report = run_suite(kernel, options);
    SeedRun run{.seed = seed, .passed = report.passed(), .seconds = report.seconds, .failing = {}};
    for (const OpVerdict& v : report.verdicts) {
      auto counted = std::find_if(seeds.failures_by_property.begin(), seeds.failures_by_property.end(),
                                  [&](const auto& entry) { return entry.first == v.property; });
      if (counted == seeds.failures_by_property.end())
        counted = seeds.failures_by_property.insert(seeds.failures_by_property.end(), {v.property, 0});
      if (!v.passed()) {
        run.failing.push_back(v.property);
        ++counted->second;
      }
    }
    if (on_seed) on_seed(run);
    seeds.runs.push_back(run);
    if (!report.passed() && !seeds.first_failure) seeds.first_failure = report;
    seeds.last = std::move(report);
    if (seed == std::numeric_limits<std::uint64_t>::max()) break;
  }
  return seeds;
}

std::pair<std::uint64_t, std::uint64_t> parse_seed_range(const std::string& text) {
  unsigned long long a = 0, b = 0;
  char tail = 0;
  const int got = std::sscanf(text.c_str(), "%llu-%llu%c", &a, &b, &tail);
  if (got == 1) b = a, a = 1;
  if ((got != 1 && got != 2) || a > b || b - a > 100000)
    throw std::invalid_argument("--seeds " + text + ": expected A-B with A <= B (at most 100001 seeds), or N for 1-N");
  return {a, b};
}

OpReport replay_case(Kernel& kernel, const std::string& dir, const ValidateOptions& o) {
  const auto started = Clock::now();
  std::string name;
  const OpCase c = read_case_dir(dir, &name);
  if (name.empty()) name = c.op.backward() ? "BWD-REFERENCE" : "REFERENCE";
  const OpProperty& p = find_op_property(name);
  OpReport report;
  report.kernel = kernel.name();
  report.capabilities = kernel.capabilities().text();
  report.seed = o.seed;
  const Evaluated e = evaluate(p, kernel, c, o);
  OpVerdict v;
  v.property = p.name;
  v.cases = 1;
  v.status = e.outcome.passed ? (e.outcome.warning ? VerdictStatus::warning : VerdictStatus::pass) : VerdictStatus::fail;
  v.worst_error = e.outcome.error;
  v.worst_bound = e.outcome.bound;
  v.element = e.outcome.element;
  v.message = e.outcome.message;
  v.shape = c.op.shape_string();
  v.counterexample_dir = dir;
  v.replay = "symbreak validate " + kernel.cli_flags() + " --replay " + dir;
  v.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  report.verdicts.push_back(v);
  report.seconds = v.seconds;
  return report;
}

OpReport validate_callable(CallableKernel::Forward forward, const ValidateOptions& options, const std::string& name,
                           CallableKernel::Backward backward, const Capabilities& caps) {
  CallableKernel k(name, std::move(forward), std::move(backward), caps);
  return run_suite(k, options);
}

}  // namespace symbreak::validate
