// The rules on convergence and losses: C5 (convergence_drop), learns, under_ceiling (A5),
// ceiling_and_learns (X1), ends_converged (S1), gap_narrows (B3).
#include <algorithm>
#include <cmath>
#include <map>

#include "rules.hpp"
#include "symbreak/experiments/stats.hpp"

namespace symbreak::experiments::rules {

// ---- C5: some ablation's convergence rate lies clearly below the reference's ----------------------
void convergence_drop(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const std::string ref = str(rule, "reference", "intact");
  std::vector<std::string> ablations = strings(rule, "ablations");
  if (ablations.empty())
    for (const auto& c : ctx.plan.conditions)
      if (c.name != ref) ablations.push_back(c.name);
  const auto rate = [&](const std::string& c) {
    const int k = ctx.converged(c), n = static_cast<int>(ctx.done(c).size());
    return std::pair{wilson(k, n), std::to_string(k) + "/" + std::to_string(n)};
  };
  if (!ctx.complete(ref)) return;
  const auto [ref_rate, ref_text] = rate(ref);
  v.numbers[ref] = {{"converged", ref_text}, {"rate", ref_rate.estimate}, {"lo", ref_rate.lo}, {"hi", ref_rate.hi}};
  // Each ablation is one check: its Wilson interval against the reference's lower bound. The claim
  // needs one ablation that holds; otherwise an undecided one makes it inconclusive.
  bool any_holds = false, any_undecided = false, any = false;
  std::string prevented;
  for (const std::string& a : ablations) {
    if (!ctx.complete(a)) continue;
    const auto [r, text] = rate(a);
    v.numbers[a] = {{"converged", text}, {"rate", r.estimate}, {"lo", r.lo}, {"hi", r.hi}};
    const Check c{"convergence rate of " + a + " below the lower bound of " + ref, r, ref_rate.lo, false};
    const Verdict d = decide({c});
    v.numbers[a]["verdict"] = to_string(d);
    v.checks.push_back(c);
    any = true;
    any_holds = any_holds || d == Verdict::reproduced;
    any_undecided = any_undecided || d == Verdict::inconclusive;
    if (d == Verdict::reproduced) prevented += (prevented.empty() ? "" : ", ") + a + " " + text;
  }
  v.verdict = !any            ? Verdict::not_run
              : any_holds     ? Verdict::reproduced
              : any_undecided ? Verdict::inconclusive
                              : Verdict::not_reproduced;
  v.measurement =
      ref + " converged " + ref_text + ftext(" (Wilson [%.2f, %.2f])", ref_rate.lo, ref_rate.hi) +
      (prevented.empty() ? "; no ablation's upper bound lies below that lower bound" : "; clearly below it: " + prevented);
}

// ---- convergence rate above a floor --------------------------------------------------------------
void learns(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const double floor = rule.value("min_rate", 0.5);
  std::string text;
  for (const std::string& c : strings(rule, "conditions")) {
    if (!ctx.complete(c)) return;
    const int k = ctx.converged(c);
    const auto runs = ctx.done(c);
    const Interval w = wilson(k, static_cast<int>(runs.size()));
    v.checks.push_back({"convergence rate of " + c + " above " + ftext("%.2f", floor), w, floor, true});
    v.numbers[c] = {{"converged", k}, {"runs", runs.size()}, {"rate", w.estimate}, {"lo", w.lo}, {"hi", w.hi}};
    text += (text.empty() ? "" : "; ") + c + ": " + std::to_string(k) + "/" + std::to_string(runs.size()) +
            ftext(" converged (Wilson [%.2f, %.2f])", w.lo, w.hi);
  }
  v.verdict = decide(v.checks);
  v.measurement = text;
}

namespace {

double ceiling_value(const Context& ctx, const json& rule) {
  if (rule.contains("ceiling") && rule["ceiling"].is_number()) return rule["ceiling"].get<double>();
  const fs::path file = fs::path(ctx.plan.path).parent_path() / str(rule, "ceiling_file", "../ceilings/addition3.json");
  const json c = json::parse(read_file(file.string()));
  return c["whole_answer_teacher_forced"]["upper_bound_value"].get<double>();
}

// Every run of the conditions has its best exact match below the Bayes ceiling: one check each.
void best_runs_under_ceiling(const Context& ctx, const json& rule, const std::vector<std::string>& conditions, ClaimVerdict& v,
                             std::string& text) {
  const double ceiling = ceiling_value(ctx, rule);
  for (const std::string& c : conditions) {
    if (!ctx.complete(c)) return;
    const RunRecord* worst = nullptr;
    for (const RunRecord* r : ctx.done(c))
      if (!worst || r->best_exact.value_or(0) > worst->best_exact.value_or(0)) worst = r;
    if (!worst) return;
    const int test = ctx.test_size(*worst);  // the run's own test set, not an assumed size
    if (rule.contains("test_size") && rule["test_size"].get<int>() != test)
      throw ConfigError(ctx.plan.path + ": \"decision.*.test_size\" " + std::to_string(rule["test_size"].get<int>()) +
                        " differs from the test set of run " + worst->run_id + " (" + std::to_string(test) + ")");
    const int k = static_cast<int>(std::lround(worst->best_exact.value_or(0) * test));
    const Interval w = wilson(k, test);
    v.checks.push_back({"best exact match of any " + c + " run below the ceiling " + ftext("%.4f", ceiling), w, ceiling, false});
    v.numbers[c] = {{"best_exact_any_run", w.estimate}, {"run", worst->run_id}, {"lo", w.lo}, {"hi", w.hi}, {"ceiling", ceiling}};
    text += (text.empty() ? "" : "; ") + c +
            ftext(": best exact match of any seed %.4f (Wilson [%.4f, %.4f]) vs ceiling %.4f", w.estimate, w.lo, w.hi, ceiling);
  }
}

}  // namespace

// ---- A5: best exact match of every run below the Bayes ceiling -----------------------------------
void under_ceiling(const Context& ctx, const json& rule, ClaimVerdict& v) {
  std::string text;
  best_runs_under_ceiling(ctx, rule, strings(rule, "conditions"), v, text);
  v.verdict = decide(v.checks);
  v.measurement = text;
}

// ---- X1: some conditions under the ceiling, others learn (convergence rate above 0) --------------
void ceiling_and_learns(const Context& ctx, const json& rule, ClaimVerdict& v) {
  std::string text;
  best_runs_under_ceiling(ctx, rule, strings(rule, "under_ceiling"), v, text);
  for (const std::string& c : strings(rule, "learns")) {
    if (!ctx.complete(c)) continue;
    const int k = ctx.converged(c);
    const auto runs = ctx.done(c);
    const Interval w = wilson(k, static_cast<int>(runs.size()));
    v.checks.push_back({c + " converges on some seed (rate above 0)", w, 0, true});
    v.numbers[c] = {{"converged", k}, {"runs", runs.size()}, {"lo", w.lo}, {"hi", w.hi}};
    text += "; " + c + ": " + std::to_string(k) + "/" + std::to_string(runs.size()) +
            ftext(" converged (Wilson [%.2f, %.2f])", w.lo, w.hi);
  }
  v.verdict = decide(v.checks);
  v.measurement = text;
}

// ---- every run's last evaluation at or above a level (no checkpoint selection) --------------------
void ends_converged(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const double level = rule.value("min_final", 0.99);
  bool all = true, any = false;
  std::string text;
  for (const std::string& c : strings(rule, "conditions")) {
    if (!ctx.complete(c)) continue;
    any = true;
    std::vector<double> finals;
    int ok = 0;
    for (const RunRecord* r : ctx.done(c)) {
      finals.push_back(r->final_exact.value_or(0));
      ok += r->final_exact.value_or(0) >= level;
    }
    all = all && ok == static_cast<int>(finals.size());
    const double worst = *std::min_element(finals.begin(), finals.end());
    v.numbers[c] = {{"final_exact", finals}, {"at_or_above", ok}, {"runs", finals.size()}};
    text += (text.empty() ? "" : "; ") + c + ": " + std::to_string(ok) + "/" + std::to_string(finals.size()) +
            ftext(" (lowest %.4f)", worst);
  }
  // A requirement on measured values, not an estimate: no interval is involved.
  v.verdict = !any ? Verdict::not_run : all ? Verdict::reproduced : Verdict::not_reproduced;
  v.measurement = text;
}

// ---- B3: the gap between a simple optimizer and AdamW narrows with the biases ----------------------
// AdamW without biases is the fixed reference: gap(X) = median steps(X) − median steps(AdamW-none),
// so the narrowing gap(X-none) − gap(X-with) is steps(X-none) − steps(X-with), decided on the
// per-seed paired differences (Student t). AdamW with biases is reported, never part of the gap: a
// reference arm that gets worse cannot make the gap narrow (the loophole of the first version).
// Runs that never converge count at the budget; with no converged run in either arm of X there is
// no evidence either way (inconclusive).
void gap_narrows(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const auto steps_by_seed = [&](const std::string& c) { return ctx.steps_to_converge(c); };
  const auto values = [](const std::map<std::uint64_t, double>& m) {
    std::vector<double> out;
    for (const auto& [seed, x] : m) out.push_back(x);
    return out;
  };
  const auto converged = [&](const std::string& c) { return ctx.converged(c); };
  const json& comparisons = rule["comparisons"];
  if (!comparisons.is_array()) return;
  const std::string primary = str(rule, "primary");
  for (const json& cmp : comparisons) {
    const std::string name = str(cmp, "name"), opt_none = str(cmp, "optimizer_without"), opt_bias = str(cmp, "optimizer_with"),
                      ref_none = str(cmp, "adamw_without"), ref_bias = str(cmp, "adamw_with");
    bool ready = true;
    for (const auto& c : {opt_none, opt_bias, ref_none}) ready = ready && ctx.complete(c);
    if (!ready) continue;
    const auto none = steps_by_seed(opt_none), with = steps_by_seed(opt_bias), ref = steps_by_seed(ref_none);
    std::vector<double> diff;  // per seed: steps without − steps with the biases
    for (const auto& [seed, s] : none)
      if (const auto w = with.find(seed); w != with.end()) diff.push_back(s - w->second);
    const Interval n = paired_t_interval(diff);
    const double gap_none = median(values(none)) - median(values(ref)), gap_bias = median(values(with)) - median(values(ref));
    const int k_none = converged(opt_none), k_with = converged(opt_bias);
    json numbers = {{"gap_without_bias", gap_none},
                    {"gap_with_bias", gap_bias},
                    {"paired_seeds", diff.size()},
                    {"differences", diff},
                    {"narrowing", {n.estimate, n.lo, n.hi}},
                    {"converged", {{opt_none, k_none}, {opt_bias, k_with}}},
                    {"median_steps", {{opt_none, median(values(none))}, {opt_bias, median(values(with))}, {ref_none, median(values(ref))}}}};
    if (!ref_bias.empty() && ctx.complete(ref_bias))  // reported beside the gap, never in it
      numbers["median_steps"][ref_bias] = median(values(steps_by_seed(ref_bias)));
    v.numbers[name] = numbers;
    if (name != primary) continue;
    v.measurement = name + ftext(": gap to AdamW without biases %.0f steps without biases, %.0f with; narrowing ", gap_none, gap_bias) +
                    interval_text(n) + " (paired over " + std::to_string(diff.size()) +
                    " seeds, Student t 95 %; runs that never converge count at the budget; " + opt_none + " converged " +
                    std::to_string(k_none) + ", " + opt_bias + " " + std::to_string(k_with) + ")";
    if (k_none + k_with == 0) {
      v.verdict = Verdict::inconclusive;
      v.measurement += "; inconclusive: no run of either arm converged, so steps-to-99 % says nothing";
      return;
    }
    v.checks.push_back({"gap narrowing (" + name + ")", n, 0, true});
  }
  v.verdict = decide(v.checks);
}

// ---- B3 as Paper B states it: unlearned biases speed an optimizer up ------------------------------
// Per seed, paired (the two arms share their initial weights): the held-out test loss at the budget
// without the biases minus with them (the loss gain), and steps to 99 % without minus with (the step
// gain; a run that never converges counts at the budget), each with a Student-t 95 % interval.
// Reproduced iff both lie above 0; not reproduced iff either lies at or below 0; otherwise
// inconclusive. The plan's minimum evidence: min_seeds finished seeds per arm (require_min_seeds),
// and a budget at which the arm without biases converged on at least half its seeds (otherwise its
// steps-to-99 % is mostly the budget itself: inconclusive, "budget too short"). The gaps of both arms
// to the reference (AdamW without biases, fixed) are reported and decide nothing; no arm with biases
// is ever the reference, so a reference that gets worse cannot carry a verdict.
void bias_gap(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const std::string without = str(rule, "without"), with = str(rule, "with"), reference = str(rule, "reference");
  if (!ctx.complete(without) || !ctx.complete(with)) return;  // not run
  const auto steps_without = ctx.steps_to_converge(without), steps_with = ctx.steps_to_converge(with);
  std::map<std::uint64_t, double> loss_without, loss_with;
  int missing_loss = 0;
  for (const auto& [c, into] : {std::pair{without, &loss_without}, std::pair{with, &loss_with}})
    for (const RunRecord* r : ctx.done(c)) {
      if (const auto l = ctx.final_test_loss(*r)) (*into)[r->seed] = *l;
      else ++missing_loss;
    }
  std::vector<double> loss_gain, step_gain;
  std::vector<std::uint64_t> seeds;
  for (const auto& [seed, s] : steps_without)
    if (const auto w = steps_with.find(seed); w != steps_with.end()) {
      seeds.push_back(seed);
      step_gain.push_back(s - w->second);
      if (loss_without.count(seed) && loss_with.count(seed)) loss_gain.push_back(loss_without[seed] - loss_with[seed]);
    }
  const Interval loss = paired_t_interval(loss_gain), steps = paired_t_interval(step_gain);
  const int k_without = ctx.converged(without), n_without = static_cast<int>(ctx.done(without).size());
  const int k_with = ctx.converged(with);
  const auto median_of = [](const std::map<std::uint64_t, double>& m) {
    std::vector<double> x;
    for (const auto& [seed, value] : m) x.push_back(value);
    return median(x);
  };
  v.numbers = {{"paired_seeds", seeds.size()},
               {"loss_gain", {loss.estimate, loss.lo, loss.hi}},
               {"loss_gains", loss_gain},
               {"step_gain", {steps.estimate, steps.lo, steps.hi}},
               {"step_gains", step_gain},
               {"converged", {{without, k_without}, {with, k_with}}},
               {"median_steps", {{without, median_of(steps_without)}, {with, median_of(steps_with)}}}};
  v.measurement = "test loss at the budget, " + without + " − " + with + ": " + interval_text(loss) + "; steps to 99 %: " +
                  interval_text(steps) + " (paired over " + std::to_string(seeds.size()) +
                  " seeds, Student t 95 %; runs that never converge count at the budget); converged " + without + " " +
                  std::to_string(k_without) + "/" + std::to_string(n_without) + ", " + with + " " + std::to_string(k_with);
  if (!reference.empty() && ctx.complete(reference)) {  // reported, decides nothing
    const double ref = median_of(ctx.steps_to_converge(reference));
    v.numbers["median_steps"][reference] = ref;
    v.numbers["gap_to_reference"] = {{without, median_of(steps_without) - ref}, {with, median_of(steps_with) - ref}};
    v.measurement += ftext("; median gap to the reference %.0f steps without the biases, %.0f with",
                           median_of(steps_without) - ref, median_of(steps_with) - ref) +
                     " (" + reference + ", reported)";
  }
  if (missing_loss > 0) {
    v.verdict = Verdict::inconclusive;
    v.measurement += "; inconclusive: " + std::to_string(missing_loss) + " runs have no test loss (trained before it was measured)";
    return;
  }
  if (2 * k_without < n_without) {
    v.verdict = Verdict::inconclusive;
    v.measurement += "; inconclusive: budget too short (" + without + " converged on " + std::to_string(k_without) + " of " +
                     std::to_string(n_without) + " seeds; the rule needs at least half)";
    return;
  }
  v.checks.push_back({"test loss at the budget, " + without + " − " + with + " (paired)", loss, 0, true});
  v.checks.push_back({"steps to 99 %, " + without + " − " + with + " (paired)", steps, 0, true});
  v.verdict = decide(v.checks);
}

}  // namespace symbreak::experiments::rules
