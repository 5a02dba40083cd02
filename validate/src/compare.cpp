#include "symbreak/validate/compare.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "case_generators.hpp"
#include "symbreak/properties/search.hpp"
#include "symbreak/rng.hpp"
#include "symbreak/text.hpp"
#include "symbreak/validate/case_dir.hpp"

namespace symbreak::validate {

using Clock = std::chrono::steady_clock;

Capabilities common_region(const Capabilities& a, const Capabilities& b) {
  using C = Capabilities;
  Capabilities c;
  // What each kernel supports: in the common region when both do.
  for (bool C::*word : {&C::mask_none, &C::mask_causal, &C::mask_explicit, &C::cross, &C::any_scale, &C::dv_differs, &C::backward,
                        &C::deterministic, &C::align_top_left, &C::align_bottom_right, &C::gqa, &C::window, &C::padding,
                        &C::mask_per_head, &C::empty_rows, &C::softcap, &C::bias, &C::alibi})
    c.*word = a.*word && b.*word;
  // Size limits (0: none): the smaller.
  // Rows with no visible key only when both write them the same way (zero, or NaN).
  c.empty_rows = c.empty_rows && a.empty_rows_nan == b.empty_rows_nan;
  c.empty_rows_nan = c.empty_rows && a.empty_rows_nan;
  for (int C::*limit : {&C::max_batch, &C::max_heads, &C::max_n, &C::max_d})
    c.*limit = a.*limit == 0 ? b.*limit : b.*limit == 0 ? a.*limit : std::min(a.*limit, b.*limit);
  c.masked_finite = a.masked_finite || b.masked_finite;  // a case one may assume finite is finite for both
  c.layout_bnhd = false;  // each kernel is handed its own layout by its own wrapper
  if (a.dtype != b.dtype)
    throw std::invalid_argument("--compare: the kernels declare different dtypes (" + std::string(to_string(a.dtype)) + " and " +
                                std::string(to_string(b.dtype)) + "); compare kernels of one dtype (override with --supports dtype=...)");
  c.dtype = a.dtype;
  return c;
}

namespace {

// Properties whose cases are plain inputs checked against the exact reference (GQA-PERM's cases are
// GQA-MAPPING's with a transform this comparison does not use).
bool reference_property(const OpProperty& p) {
  return (p.name == "REFERENCE" || p.name == "BWD-REFERENCE" || p.robust) && p.feature != "gqa-perm";
}

}  // namespace

CompareReport compare_kernels(Kernel& a, Kernel& b, const ValidateOptions& o) {
  const auto started = Clock::now();
  const Capabilities region = common_region(a.capabilities(), b.capabilities());
  CompareReport report;
  report.a = a.name();
  report.b = b.name();
  report.region = region.text();
  std::vector<const OpProperty*> selected;
  if (o.properties.empty()) {
    for (const OpProperty& p : op_catalogue())
      if (reference_property(p)) selected.push_back(&p);
  } else {
    for (const auto& name : o.properties) {
      const OpProperty& p = find_op_property(name);
      if (!reference_property(p))
        throw std::invalid_argument("--compare runs the cases of the reference properties; \"" + name +
                                    "\" is not one (REFERENCE, ROBUST, BWD-REFERENCE, BWD-ROBUST and the version-2 "
                                    "feature properties are)");
      selected.push_back(&p);
    }
  }
  const Clock::time_point deadline =
      o.time_budget > 0 ? started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.time_budget))
                        : Clock::time_point::max();
  for (const OpProperty* p : selected) {
    const bool backward = p->pass == Pass::backward;
    if (backward && (!region.backward || o.forward_only)) continue;
    if (property_modes(*p, region).empty()) continue;
    report.properties.emplace_back(p->name);
    const auto agrees = [&](const OpCase& c) {
      try {
        return check_agreement(a, b, c, o.tolerance, backward);
      } catch (const std::exception& e) {
        OpOutcome out;
        out.passed = false;
        out.message = std::string("evaluation failed: ") + e.what();
        return out;
      }
    };
    std::optional<std::pair<OpCase, OpOutcome>> found;
    if (p->robust && o.edge_cases)
      for (const OpCase& c : edge_cases(*p, region)) {
        ++report.cases;
        if (OpOutcome out = agrees(c); !out.passed) {
          found.emplace(c, std::move(out));
          break;
        }
      }
    if (!found && Clock::now() < deadline) {
      const auto gen = case_gen(*p, region);
      const auto trial = [&](bool shrinking) {
        const OpCase c = *gen;
        if (!shrinking) ++report.cases;
        OpOutcome out = agrees(c);
        if (out.passed) return properties::Trial::pass;
        found.emplace(c, std::move(out));
        return properties::Trial::fail;
      };
      properties::SearchOptions so;
      so.seed = stream_seed(o.seed, "compare " + std::string(p->name));
      so.max_success = o.cases;
      so.search_seconds =
          deadline == Clock::time_point::max() ? 0 : std::max(1e-3, std::chrono::duration<double>(deadline - Clock::now()).count());
      so.shrink_seconds = o.shrink_seconds;
      so.id = "compare " + std::string(p->name);
      properties::search(trial, so);  // `found` ends as the shrunk failing case
    }
    if (!found) continue;
    CompareReport::Disagreement d;
    d.property = p->name;
    d.shape = found->first.op.shape_string();
    d.element = found->second.element;
    d.difference = found->second.error;
    d.bound = found->second.bound;
    d.message = found->second.message;
    if (!o.failure_dir.empty()) {
      const nlohmann::json extra = {{"property", backward ? "BWD-REFERENCE" : "REFERENCE"},
                                    {"kernel", "compare " + a.name() + " / " + b.name()},
                                    {"message", d.message},
                                    {"element", d.element.text()}};
      const std::string dir = o.failure_dir + "/compare/" + std::string(p->name) + "-" +
                              text::hex(stream_seed(o.seed, extra.dump() + d.shape));
      try {
        write_case_dir(dir, found->first.op, extra.dump());
        d.counterexample_dir = dir;
        d.replay_a = "symbreak validate " + a.cli_flags() + " --replay " + dir;
        d.replay_b = "symbreak validate " + b.cli_flags() + " --replay " + dir;
      } catch (const std::exception& e) {
        d.message += " (could not save the case: " + std::string(e.what()) + ")";
      }
    }
    report.disagreement = std::move(d);
    break;
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

void print_compare(std::ostream& out, const CompareReport& r) {
  out << "compare A = " << r.a << "\n        B = " << r.b << "\nregion both declare: " << r.region << "\n";
  std::string props;
  for (const auto& p : r.properties) props += (props.empty() ? "" : ", ") + p;
  out << "cases of: " << (props.empty() ? "(none applicable)" : props) << "\n";
  if (r.agreed()) {
    out << "agree: " << r.cases << " cases, every element within the sum of both bounds (" << text::shortest(r.seconds)
        << " s)\n";
    return;
  }
  const auto& d = *r.disagreement;
  out << "DISAGREE after " << r.cases << " cases, on a case of " << d.property << " (" << d.shape << ")\n"
      << "  at " << d.element.text() << ": |A − B| = " << text::shortest(d.difference) << " > " << text::shortest(d.bound)
      << "\n  " << d.message << "\n";
  if (!d.counterexample_dir.empty())
    out << "  saved: " << d.counterexample_dir << "\n  replay A: " << d.replay_a << "\n  replay B: " << d.replay_b << "\n";
}

}  // namespace symbreak::validate
