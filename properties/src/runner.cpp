#include "symbreak/properties/runner.hpp"

#include <rapidcheck.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>

#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"
#include "symbreak/properties/generators.hpp"
#include "failure_store.hpp"
#include "symbreak/properties/search.hpp"
#include "symbreak/text.hpp"

namespace symbreak::properties {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kArithNames[] = {"f32", "f64", "exact"};
constexpr std::string_view kStatusNames[] = {"holds", "broken-as-expected", "VIOLATED", "n/a", "ERROR"};

// ---- Evaluating one case ----------------------------------------------------------------------

struct CaseOutcome {
  bool symmetric = true;
  std::size_t failing_probe = 0;
  ProbeOutcome failing;
  std::vector<ProbeOutcome> probes;
  std::vector<int> rows;
  std::string row_label;
};

template <class T>
CaseOutcome evaluate_case(const Property& property, const Target& target, const Case& c, const ToleranceRule& rule) {
  CaseOutcome out;
  ProbeChecker<T> checker(property, target, c.model, rule);
  for (std::size_t k = 0; k < c.probes.size(); ++k) {
    const ProbeOutcome o = checker.check(c.probes[k]);
    out.rows = checker.last_rows();
    out.row_label = checker.last_row_label();
    out.probes.push_back(o);
    if (!o.symmetric) {
      out.symmetric = false;
      out.failing_probe = k;
      out.failing = o;
      break;
    }
  }
  return out;
}

CaseOutcome evaluate_case_in(Precision arith, const Property& property, const Target& target, const Case& c,
                             const ToleranceRule& rule) {
  switch (arith) {
    case Precision::f32: return evaluate_case<float>(property, target, c, rule);
    case Precision::f64: return evaluate_case<double>(property, target, c, rule);
    case Precision::exact: return evaluate_case<Exact>(property, target, c, rule);
  }
  throw std::logic_error("unknown arithmetic");
}

bool supports(const Target& target, Precision arith) {
  switch (arith) {
    case Precision::f32: return static_cast<bool>(target.f32) && (target.exact || target.f64);
    case Precision::f64: return static_cast<bool>(target.f64) && static_cast<bool>(target.exact);
    case Precision::exact: return static_cast<bool>(target.exact);
  }
  return false;
}

std::string architecture_class(const ModelConfig& c) {
  int on = 0;
  for (int l = 0; l < c.layers; ++l) on += c.residual_attention_on(l) + c.residual_mlp_on(l);
  const char* residual = on == 2 * c.layers ? "all" : on == 0 ? "none" : "mixed";
  return "L=" + std::to_string(c.layers) + " H=" + std::to_string(c.heads) + (c.layernorm ? " LN" : " noLN") +
         " res=" + residual + (c.mlp ? " mlp" : " attn-only");
}


Finding finding_from(const Case& c, const CaseOutcome& o) {
  Finding f;
  f.found.model = c.model;
  f.found.probes = {c.probes[o.failing_probe]};
  f.element = element_name(o.rows, o.row_label.empty() ? "position" : o.row_label, o.failing.row, o.failing.col);
  f.deviation = o.failing.deviation;
  f.bound = o.failing.bound;
  f.exact_difference = o.failing.exact_difference;
  f.exact_bits = o.failing.exact_bits;
  return f;
}

std::string replay_command(const Property& property, Precision arith, const Target& target, std::uint64_t seed) {
  std::string cmd = "symbreak check --property " + std::string(property.name) + " --arith " + std::string(to_string(arith)) +
                    " --seed " + std::to_string(seed);
  if (target.fault.fault != Fault::none) {
    std::ostringstream eps;
    eps << target.fault.epsilon;
    cmd += " --fault " + std::string(to_string(target.fault.fault)) + " --epsilon " + eps.str();
  }
  return cmd;
}

}  // namespace

template <class T>
const SubjectFactory<T>& factory_of(const Target& target) {
  if constexpr (std::is_same_v<T, float>) return target.f32;
  else if constexpr (std::is_same_v<T, double>) return target.f64;
  else return target.exact;
}

namespace {

Comparison<Exact> to_exact_comparison(const Comparison<double>& c) {
  const auto conv = [](double v) { return exact_from_double(v); };
  return {tensor_cast<Exact>(c.expected, conv), tensor_cast<Exact>(c.actual, conv), c.rows, c.row_label};
}

void record_exact_difference(ProbeOutcome& o, const Comparison<Exact>& e, int row, int col) {
  const Exact d = e.actual(row, col) - e.expected(row, col);
  o.exact_difference = exact_to_string(d);
  o.exact_bits = exact_bits(d);
}

}  // namespace

template <class T>
ProbeChecker<T>::ProbeChecker(const Property& property, const Target& target, const ModelSpec& spec, const ToleranceRule& rule)
    : property_(property), target_(target), spec_(spec), rule_(rule), subject_(factory_of<T>(target)(spec)) {}

template <class T>
Comparison<Exact> ProbeChecker<T>::reference(const Probe& p) {
  if (target_.exact) {
    if (!exact_) exact_ = target_.exact(spec_);
    return evaluate(property_, *exact_, p);
  }
  if (!target_.f64) throw std::logic_error("the target has neither an Exact nor a float64 reference");
  if (!f64_) f64_ = target_.f64(spec_);
  return to_exact_comparison(evaluate(property_, *f64_, p));
}

template <class T>
ProbeOutcome ProbeChecker<T>::check(const Probe& p) {
  const Comparison<T> cmp = evaluate(property_, *subject_, p);
  rows_ = cmp.rows;
  row_label_ = cmp.row_label;
  const Deviation dev = deviation(cmp);
  ProbeOutcome o;
  o.row = dev.row;
  o.col = dev.col;
  o.deviation = dev.as_double();
  if constexpr (std::is_same_v<T, Exact>) {
    o.symmetric = dev.value == 0;
    if (!o.symmetric) record_exact_difference(o, cmp, dev.row, dev.col);
    return o;
  } else {
    constexpr double u = unit_roundoff<T>();
    const double scale = output_scale(cmp);
    std::optional<Comparison<Exact>> exact;
    o.atol = rule_.atol_ulps * u * scale;
    if (!calibrated_) {  // the first probe calibrates the reference error, in units of u·S
      exact = reference(p);
      const Deviation err = reference_error(cmp, *exact);
      o.err_ref = err.as_double();
      kappa_ = err.finite ? o.err_ref / (u * scale) : 0;
      calibrated_ = true;
    } else {
      o.err_ref = kappa_ * u * scale;
    }
    o.bound = rule_.c * o.err_ref + o.atol;
    if (!dev.finite || o.deviation > o.bound) {
      // Past the calibrated bound: measure this probe's own reference error exactly. If the exact sides
      // are equal, |Δ| <= err(actual) + err(expected) <= 2·err_ref, so only a real asymmetry exceeds it.
      if (!exact) {
        exact = reference(p);
        const Deviation err = reference_error(cmp, *exact);
        o.err_ref = err.as_double();
        o.bound = rule_.c * o.err_ref + o.atol;
        o.rounding_outlier = dev.finite && err.finite && o.deviation <= o.bound;
        // The calibration underestimated this probe's error: later probes use the larger κ.
        if (err.finite) kappa_ = std::max(kappa_, o.err_ref / (u * scale));
      }
      o.symmetric = o.rounding_outlier;
      if (!o.symmetric) {
        const Deviation exact_dev = deviation(*exact);
        record_exact_difference(o, *exact, dev.row >= 0 ? dev.row : exact_dev.row, dev.col >= 0 ? dev.col : exact_dev.col);
      }
    }
    return o;
  }
}

template class ProbeChecker<float>;
template class ProbeChecker<double>;
template class ProbeChecker<Exact>;

std::string_view to_string(Precision arith) { return kArithNames[static_cast<int>(arith)]; }

Precision arith_from_string(std::string_view name) {
  for (int i = 0; i < 3; ++i)
    if (kArithNames[i] == name) return static_cast<Precision>(i);
  throw std::invalid_argument("unknown arithmetic \"" + std::string(name) + "\" (allowed: f32, f64, exact)");
}

std::string_view to_string(Status status) { return kStatusNames[static_cast<int>(status)]; }

Target reference_target(FaultSpec fault) {
  Target t;
  t.fault = fault;
  t.name = fault.fault == Fault::none ? "reference" : "reference+" + std::string(to_string(fault.fault));
  t.f32 = [fault](const ModelSpec& s) { return std::make_shared<ModelSubject<float>>(make_model_from_spec<float>(s), fault); };
  t.f64 = [fault](const ModelSpec& s) { return std::make_shared<ModelSubject<double>>(make_model_from_spec<double>(s), fault); };
  t.exact = [fault](const ModelSpec& s) { return std::make_shared<ModelSubject<Exact>>(make_model_from_spec<Exact>(s), fault); };
  return t;
}

std::uint64_t resolve_seed(const CheckOptions& options) {
  if (options.seed) return *options.seed;
  if (properties::rc_params_set()) return properties::rc_params_seed();
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

namespace {

// Why `property` cannot run in `arith` on `target`, or nullopt when it can.
std::optional<std::string> not_applicable_reason(const Property& property, Precision arith, const Target& target) {
  if (!supports(target, arith)) return "the target offers no " + std::string(to_string(arith)) + " evaluation with a reference";
  if (property.weight_level && !target.has_weights) return "needs the model's weights; the target is an opaque function";
  if (target.fixed && !property.applies_to(declaration_of(target.fixed->config)))
    return "the declared mask, PE or depth is outside this property's class";
  return std::nullopt;
}

Status failure_status(const Property& property) {
  return property.expectation == Expectation::holds ? Status::violated : Status::broken_as_expected;
}

// The failure database: stored failures of this property are replayed before any search. Returns
// true (and fills v) when one still fails; removes the ones that now pass.
bool replay_stored_failures(const Property& property, Precision arith, const Target& target, const CheckOptions& options,
                            Verdict& v) {
  if (options.failure_dir.empty() || !std::filesystem::is_directory(options.failure_dir)) return false;
  for (const auto& entry : std::filesystem::directory_iterator(options.failure_dir)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with(failure_file_prefix(property, arith)) || !file.ends_with(".json")) continue;
    const Property* stored_property = nullptr;
    Precision stored_arith;
    StoredFailure stored;
    try {
      stored = load_failure(entry.path().string(), &stored_property, &stored_arith);
    } catch (const ConfigError& e) {
      v.note += "skipped unreadable failure file " + entry.path().string() + "; ";
      continue;
    }
    if (stored.target != target.name) continue;
    const CaseOutcome o = evaluate_case_in(arith, property, target, stored.stored, options.tolerance);
    if (!o.symmetric) {
      v.status = failure_status(property);
      v.finding = finding_from(stored.stored, o);
      v.finding->saved_to = stored.path;
      v.finding->replay = "symbreak check --replay " + stored.path;
      v.cases = 1;
      v.models = 1;
      v.note += "stored failure replayed first; ";
      return true;
    }
    std::filesystem::remove(entry.path());
    v.note += "stored failure " + file + " now passes and was removed; ";
  }
  return false;
}

// Counts a searched (not shrunk) case into the verdict and keeps the evidence of the probe closest to
// its bound (in Exact: the largest difference).
void tally_case(Verdict& v, const Case& c, const CaseOutcome& o, Precision arith, double& closest_ratio) {
  ++v.models;
  v.cases += static_cast<int>(o.probes.size());
  ++v.classes[architecture_class(c.model.config)];
  for (const ProbeOutcome& p : o.probes) {
    v.rounding_outliers += p.rounding_outlier;
    const double ratio = arith == Precision::exact ? p.deviation : p.deviation / std::max(p.bound, 1e-300);
    if (p.symmetric && ratio > closest_ratio) {
      closest_ratio = ratio;
      v.max_deviation = p.deviation;
      v.bound = p.bound;
      v.err_ref = p.err_ref;
      v.atol = p.atol;
    }
  }
}

properties::SearchOptions search_options(const Property& property, Precision arith, const CheckOptions& options,
                                         std::uint64_t seed) {
  properties::SearchOptions so;
  so.seed = seed;
  so.max_success = options.cases.value_or(properties::rc_params_set() ? properties::rc_params_max_success() : 100);
  so.max_size = options.max_size;
  so.shrink = options.shrink;
  so.search_seconds = options.search_seconds;
  so.shrink_seconds = options.shrink_seconds;
  so.id = std::string(property.name) + "/" + std::string(to_string(arith));
  so.description = std::string(property.statement);
  so.honour_rc_params = true;
  return so;
}

}  // namespace

Verdict run_property(const Property& property, Precision arith, const Target& target, const CheckOptions& options) {
  const auto started = Clock::now();
  Verdict v;
  v.property = property.name;
  v.arith = arith;
  v.expectation = property.expectation;
  v.target = target.name;
  v.c = options.tolerance.c;
  v.seed = stream_seed(resolve_seed(options), std::string(property.name) + "/" + std::string(to_string(arith)));
  const auto finish = [&]() -> Verdict& {
    v.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return v;
  };
  if (auto why = not_applicable_reason(property, arith, target)) {
    v.status = Status::not_applicable;
    v.note = *why;
    return finish();
  }
  if (replay_stored_failures(property, arith, target, options, v)) return finish();

  // The random search, with RapidCheck doing generation and shrinking (search.hpp). The trial keeps
  // the last failing case: after shrinking, that is the minimal one.
  std::optional<Case> last_failure;
  CaseOutcome last_outcome;
  std::string error;
  double closest_ratio = -1;
  const auto case_gen = gen::case_for(property, options.limits, options.probes);
  const auto fixed_gen =
      target.fixed ? rc::gen::container<std::vector<Probe>>(options.probes, gen::probe(property, *target.fixed, options.limits))
                   : rc::gen::just(std::vector<Probe>{});
  const auto trial = [&](bool shrinking) {
    const Case c = target.fixed ? Case{*target.fixed, *fixed_gen} : *case_gen;
    CaseOutcome o;
    try {
      o = evaluate_case_in(arith, property, target, c, options.tolerance);
    } catch (const std::exception& e) {
      if (!shrinking) error = e.what();
      last_failure = c;
      return properties::Trial::error;
    }
    if (!shrinking) tally_case(v, c, o, arith, closest_ratio);
    if (o.symmetric) return properties::Trial::pass;
    last_failure = c;
    last_outcome = o;
    return properties::Trial::fail;
  };
  const properties::SearchResult result = properties::search(trial, search_options(property, arith, options, v.seed));
  v.time_capped = result.time_capped;
  v.shrink_capped = result.shrink_capped;

  if (result.failed && last_failure) {
    if (result.failed_with_error) {
      v.status = Status::error;
      v.note += "evaluation failed: " + error + "; ";
      v.finding.emplace();
      v.finding->found = *last_failure;
    } else {
      v.finding = finding_from(*last_failure, last_outcome);
      v.status = failure_status(property);
    }
    v.finding->rc_reproduce = result.rc_reproduce;
    v.finding->replay = replay_command(property, arith, target, resolve_seed(options));
    if (v.status == Status::violated) {
      v.finding->saved_to = save_failure(options, property, arith, target, *v.finding);
      if (!v.finding->saved_to.empty()) v.finding->replay = "symbreak check --replay " + v.finding->saved_to;
    }
  } else if (!result.rapidcheck_error.empty()) {
    v.status = Status::error;
    v.note += "RapidCheck error: " + result.rapidcheck_error + "; ";
  } else {
    if (!result.gave_up.empty()) v.note += "RapidCheck gave up: " + result.gave_up + "; ";
    v.status = property.expectation == Expectation::holds ? Status::holds : Status::violated;
    if (property.expectation == Expectation::broken) v.note += "no witness in " + std::to_string(v.cases) + " cases; ";
  }
  if (v.time_capped) v.note += "search time cap reached; ";
  if (v.shrink_capped) v.note += "shrinking time cap reached; ";
  return finish();
}

std::vector<Verdict> run_check(const Target& target, const CheckOptions& options,
                               const std::function<void(const Verdict&)>& on_verdict) {
  std::vector<const Property*> selected;
  if (options.properties.empty()) {
    for (const Property& p : catalogue()) selected.push_back(&p);
  } else {
    for (const auto& name : options.properties) selected.push_back(&find_property(name));
  }
  CheckOptions resolved = options;
  resolved.seed = resolve_seed(options);
  std::vector<Verdict> verdicts;
  for (const Property* p : selected)
    for (Precision a : options.ariths) {
      verdicts.push_back(run_property(*p, a, target, resolved));
      if (on_verdict) on_verdict(verdicts.back());
    }
  return verdicts;
}

Verdict replay_file(const std::string& path, const CheckOptions& options) {
  const Property* property = nullptr;
  Precision arith = Precision::exact;
  const StoredFailure stored = load_failure(path, &property, &arith);
  const Target target = reference_target(stored.fault);
  const auto started = Clock::now();
  Verdict v;
  v.property = property->name;
  v.arith = arith;
  v.expectation = property->expectation;
  v.target = target.name;
  v.c = options.tolerance.c;
  const CaseOutcome o = evaluate_case_in(arith, *property, target, stored.stored, options.tolerance);
  v.models = 1;
  v.cases = static_cast<int>(o.probes.size());
  if (!o.symmetric) {
    v.finding = finding_from(stored.stored, o);
    v.finding->saved_to = path;
    v.finding->replay = "symbreak check --replay " + path;
    v.status = failure_status(*property);
  } else {
    const ProbeOutcome& p = o.probes.back();
    v.max_deviation = p.deviation;
    v.bound = p.bound;
    v.err_ref = p.err_ref;
    v.atol = p.atol;
    v.status = property->expectation == Expectation::holds ? Status::holds : Status::violated;
    v.note = "the stored case no longer shows the finding";
  }
  v.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return v;
}

}  // namespace symbreak::properties
