#include "symbreak/validate/suite.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "generators.hpp"
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
    return {p.check(kernel, c, o.tolerance, o.strict_determinism), false};
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

// One property on one kernel: its edge cases, then the search, then the report of the worst case.
OpVerdict run_property(const OpProperty& p, Kernel& kernel, const Capabilities& caps, const ValidateOptions& o,
                       Clock::time_point deadline) {
  const auto started = Clock::now();
  OpVerdict v;
  v.property = p.name;
  v.skipped = skipped_kinds(p, caps);
  const std::vector<MaskMode> modes = property_modes(p, caps);
  v.region = modes_text(modes);
  const auto finish = [&]() -> OpVerdict& {
    v.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return v;
  };
  if (p.pass == Pass::backward && !caps.backward) {
    v.status = VerdictStatus::not_applicable;
    v.message = "not applicable: the kernel has no backward pass";
    return finish();
  }
  if (modes.empty()) {
    v.status = VerdictStatus::not_applicable;
    v.message = "not applicable: needs " + std::string(p.needs) + ", which the kernel does not support";
    return finish();
  }

  double best_ratio = -1;
  bool warned = false;
  std::optional<OpCase> failing;
  OpOutcome failing_outcome;
  bool failing_is_error = false;
  const auto tally = [&](const OpCase& c, const OpOutcome& out) {
    ++v.cases;
    const double ratio = out.bound > 0 ? out.error / out.bound : out.error;
    if (ratio > best_ratio) {
      best_ratio = ratio;
      v.worst_error = out.error;
      v.worst_bound = out.bound;
      v.element = out.element;
      v.shape = c.op.shape_string();
    }
    if (out.warning && !warned) {
      warned = true;
      v.message = out.message + " at " + out.element.text() + " (" + c.op.shape_string() + ")";
    }
    if (o.progress) o.progress(v.property, v.cases, o.cases);
  };

  // The edge cases, in every supported mode, before the search. They cannot be shrunk, so after one
  // fails the search still runs: a smaller generated failure, shrunk, is the better report.
  if (p.robust && o.edge_cases)
    for (const OpCase& c : edge_cases(p, caps)) {
      const Evaluated e = evaluate(p, kernel, c, o);
      tally(c, e.outcome);
      if (!e.outcome.passed) {
        failing = c;
        failing_outcome = e.outcome;
        failing_is_error = e.error;
        break;
      }
    }

  // The search.
  const auto gen = case_gen(p, caps);
  std::optional<OpCase> searched;
  OpOutcome searched_outcome;
  bool searched_error = false;
  const auto trial = [&](bool shrinking) {
    const OpCase c = *gen;
    const Evaluated e = evaluate(p, kernel, c, o);
    if (!shrinking) tally(c, e.outcome);
    if (e.outcome.passed) return properties::Trial::pass;
    searched = c;
    searched_outcome = e.outcome;
    searched_error = e.error;
    return e.error ? properties::Trial::error : properties::Trial::fail;
  };
  properties::SearchOptions so;
  so.seed = stream_seed(o.seed, std::string(p.name));
  so.max_success = o.cases;
  so.max_size = 100;
  so.search_seconds = deadline == Clock::time_point::max() ? 0 : std::max(1e-3, std::chrono::duration<double>(deadline - Clock::now()).count());
  so.shrink_seconds = o.shrink_seconds;
  so.id = std::string(p.name);
  // After a failing edge case the search still runs: a smaller generated failure, shrunk, reads better.
  const properties::SearchResult result = properties::search(trial, so);
  if (result.time_capped && !result.failed) v.message = "time budget reached after " + std::to_string(v.cases) + " cases";
  if (result.failed && searched) {
    failing = searched;
    failing_outcome = searched_outcome;
    failing_is_error = searched_error;
  }

  if (!failing) {
    v.status = warned ? VerdictStatus::warning : VerdictStatus::pass;
    return finish();
  }
  const OpCase simple = simplify_values(p, kernel, *failing, o, caps, Clock::now() + seconds(std::min(o.shrink_seconds, 3.0)));
  if (const Evaluated e = evaluate(p, kernel, simple, o); !e.outcome.passed && e.error == failing_is_error) {
    failing = simple;
    failing_outcome = e.outcome;
  }
  v.status = VerdictStatus::fail;
  v.worst_error = failing_outcome.error;
  v.worst_bound = failing_outcome.bound;
  v.element = failing_outcome.element;
  v.message = failing_outcome.message;
  v.shape = failing->op.shape_string();
  if (!o.failure_dir.empty()) {
    const json transform = {{"permutation", failing->transform.permutation}, {"position", failing->transform.position},
                            {"seed", failing->transform.seed}};
    const json extra = {{"property", p.name}, {"kernel", kernel.name()}, {"transform", transform},
                        {"message", failing_outcome.message}, {"element", failing_outcome.element.text()}};
    const std::string dir = o.failure_dir + "/" + sanitize(kernel.name()) + "/" + std::string(p.name) + "-" +
                            text::hex(stream_seed(o.seed, extra.dump() + failing->op.shape_string()));
    try {
      write_case_dir(dir, failing->op, extra.dump());
      v.counterexample_dir = dir;
      v.replay = "symbreak validate " + kernel.cli_flags() + " --replay " + dir;
    } catch (const std::exception& e) {
      v.message += " (could not save the case: " + std::string(e.what()) + ")";
    }
  }
  if (v.replay.empty())
    v.replay = "symbreak validate " + kernel.cli_flags() + " --property " + std::string(p.name) + " --seed " + std::to_string(o.seed);
  return finish();
}

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
    report.verdicts.push_back(run_property(*selected[index], kernel, caps, o, deadline));
    stop = o.fail_fast && !report.verdicts.back().passed();
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
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
