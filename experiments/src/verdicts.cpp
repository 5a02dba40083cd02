#include "symbreak/experiments/verdicts.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/train_config.hpp"
#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"

namespace symbreak::experiments {

using nlohmann::json;
namespace fs = std::filesystem;

std::string to_string(Verdict v) {
  switch (v) {
    case Verdict::reproduced: return "reproduced";
    case Verdict::not_reproduced: return "not reproduced";
    case Verdict::inconclusive: return "inconclusive";
    case Verdict::not_run: return "not run";
  }
  return "?";
}

Verdict decide(const std::vector<Check>& checks) {
  if (checks.empty()) return Verdict::not_run;
  bool all_hold = true;
  for (const Check& c : checks) {
    const Interval& i = c.interval;
    if (std::isnan(i.lo) || std::isnan(i.hi)) return Verdict::not_run;
    const bool holds = c.above ? i.lo > c.threshold : i.hi < c.threshold;
    const bool contrary = c.above ? i.hi <= c.threshold : i.lo >= c.threshold;
    if (contrary) return Verdict::not_reproduced;
    all_hold = all_hold && holds;
  }
  return all_hold ? Verdict::reproduced : Verdict::inconclusive;
}

json to_json(const ClaimVerdict& v) {
  json checks = json::array();
  for (const Check& c : v.checks)
    checks.push_back({{"name", c.name},
                      {"estimate", std::isnan(c.interval.estimate) ? json(nullptr) : json(c.interval.estimate)},
                      {"lo", std::isnan(c.interval.lo) ? json(nullptr) : json(c.interval.lo)},
                      {"hi", std::isnan(c.interval.hi) ? json(nullptr) : json(c.interval.hi)},
                      {"threshold", c.threshold},
                      {"wants", c.above ? "above" : "below"}});
  return {{"id", v.id},
          {"rule", v.rule},
          {"statement", v.statement},
          {"verdict", to_string(v.verdict)},
          {"measurement", v.measurement},
          {"checks", checks},
          {"numbers", v.numbers}};
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}
std::string interval_text(const Interval& i) { return fmt("%.3g [%.3g, %.3g]", i.estimate, i.lo, i.hi); }

struct Context {
  const Plan& plan;
  std::string out;
  std::vector<RunRecord> runs;

  std::vector<const RunRecord*> done(const std::string& condition) const {
    std::vector<const RunRecord*> r;
    for (const RunRecord& x : runs)
      if (x.condition == condition && x.status == "done") r.push_back(&x);
    return r;
  }
  int planned(const std::string& condition) const {
    int n = 0;
    for (const RunRecord& x : runs) n += x.condition == condition;
    return n;
  }
  bool complete(const std::string& condition) const {
    const int n = planned(condition);
    return n > 0 && static_cast<int>(done(condition).size()) == n;
  }
  std::optional<json> analysis(const RunRecord& r, bool init, std::optional<int> at_step = std::nullopt) const {
    const std::string path = analysis_dir(out + "/runs/" + r.run_id, init, at_step) + "/analysis.json";
    if (!fs::exists(path)) return std::nullopt;
    return json::parse(read_file(path));
  }
  // The size of a run's test set, from the config it ran with (config.json: task.test_size).
  int test_size(const RunRecord& r) const {
    const std::string path = out + "/runs/" + r.run_id + "/config.json";
    const json config = json::parse(read_file(path));
    const json* size = config.contains("task") ? &config["task"] : nullptr;
    if (!size || !size->contains("test_size") || !(*size)["test_size"].is_number_integer())
      throw ConfigError(path + ": \"task.test_size\" is missing; the rule needs the run's test-set size");
    return (*size)["test_size"].get<int>();
  }
  const PlanCondition* condition(const std::string& name) const {
    for (const auto& c : plan.conditions)
      if (c.name == name) return &c;
    return nullptr;
  }
};

std::string str(const json& rule, const char* key, const std::string& fallback = "") {
  return rule.contains(key) && rule[key].is_string() ? rule[key].get<std::string>() : fallback;
}
std::vector<std::string> strings(const json& rule, const char* key) {
  std::vector<std::string> out;
  if (rule.contains(key) && rule[key].is_array())
    for (const json& v : rule[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// ---- C5: some ablation's convergence rate lies clearly below the reference's ----------------------
void convergence_drop(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const std::string ref = str(rule, "reference", "intact");
  std::vector<std::string> ablations = strings(rule, "ablations");
  if (ablations.empty())
    for (const auto& c : ctx.plan.conditions)
      if (c.name != ref) ablations.push_back(c.name);
  const auto rate = [&](const std::string& c) {
    int k = 0;
    const auto runs = ctx.done(c);
    for (const RunRecord* r : runs) k += r->first_step_converged.has_value();
    return std::pair{wilson(k, static_cast<int>(runs.size())), std::to_string(k) + "/" + std::to_string(runs.size())};
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
      ref + " converged " + ref_text + fmt(" (Wilson [%.2f, %.2f])", ref_rate.lo, ref_rate.hi) +
      (prevented.empty() ? "; no ablation's upper bound lies below that lower bound" : "; clearly below it: " + prevented);
}

// The blocks a condition's config switches a residual off in.
std::vector<int> ablated_blocks(const PlanCondition& c) {
  const TrainConfig t = parse_train_config(c.config_json, c.name);
  std::vector<int> out;
  for (int l = 0; l < t.model.layers; ++l)
    if (!t.model.residual_attention_on(l) || !t.model.residual_mlp_on(l)) out.push_back(l);
  return out;
}

// Per run: mean D over the pairs (l, l+1) of the ablated blocks, and mean own-token retention of
// the streams after them.
struct SliceNumbers {
  double D = kNaN, retention = kNaN;
};
// Every pair (l, l+1) of the blocks counts, trained and untrained alike, so both means are over the
// same pair set: a pair whose D is undefined (a collapsed slot: no variance to correlate) counts as
// D = 1, no diagonal structure. (The first version skipped such pairs, so where all-off seed 3
// collapsed its trained and untrained means were taken over different pairs.)
SliceNumbers slice_numbers(const json& a, const std::vector<int>& blocks) {
  std::vector<double> Ds, Rs;
  for (int l : blocks) {
    double D = 1.0;  // collapsed or absent: no structure
    for (const json& p : a["pairs"])
      if (p["from"] == l && p["to"] == l + 1 && !p["diagonality_index"].is_null()) D = p["diagonality_index"].get<double>();
    Ds.push_back(D);
    const json& r = a["retention"][static_cast<std::size_t>(l + 1)]["own_token"];
    if (!r.is_null()) Rs.push_back(r.get<double>());
  }
  return {mean(Ds), mean(Rs)};
}

// ---- C6: diagonal structure, measured without favouring the residual basis ------------------------
void diagonal_structure(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const std::string ref = str(rule, "reference", "intact");
  const std::string primary = str(rule, "primary");
  std::vector<std::string> ablations = strings(rule, "ablations");
  if (std::find(ablations.begin(), ablations.end(), primary) == ablations.end()) ablations.insert(ablations.begin(), primary);
  for (const std::string& a : ablations) {
    const PlanCondition* pc = ctx.condition(a);
    if (!pc || !ctx.complete(a) || !ctx.complete(ref)) continue;
    const std::vector<int> blocks = ablated_blocks(*pc);
    // Per seed: trained and untrained numbers of the reference and of the ablation.
    std::map<std::uint64_t, SliceNumbers> ref_t, abl_t;  // per seed, trained
    std::map<std::uint64_t, double> ref_dd, abl_dd;       // per seed, D_trained − D_init
    bool missing = false;
    const auto collect = [&](const std::string& cond, std::map<std::uint64_t, SliceNumbers>& t_out,
                             std::map<std::uint64_t, double>& dd_out) {
      for (const RunRecord* run : ctx.done(cond)) {
        const auto trained = ctx.analysis(*run, false), init = ctx.analysis(*run, true);
        if (!trained || !init) {
          missing = true;
          return;
        }
        const SliceNumbers t = slice_numbers(*trained, blocks), i = slice_numbers(*init, blocks);
        t_out[run->seed] = t;
        dd_out[run->seed] = t.D - i.D;
      }
    };
    collect(ref, ref_t, ref_dd);
    collect(a, abl_t, abl_dd);
    if (missing) continue;
    // Seeds are paired: the reference and the ablation start from the same weights and data.
    std::vector<double> d_ref, d_abl, r_ref, r_abl, dd_ref, dd_abl, dD_seed, dR_seed, dDD_seed;
    for (const auto& [seed, x] : ref_t) {
      const auto y = abl_t.find(seed);
      if (y == abl_t.end()) continue;
      d_ref.push_back(x.D), d_abl.push_back(y->second.D);
      r_ref.push_back(x.retention), r_abl.push_back(y->second.retention);
      dd_ref.push_back(ref_dd[seed]), dd_abl.push_back(abl_dd[seed]);
      dD_seed.push_back(x.D - y->second.D);
      dR_seed.push_back(x.retention - y->second.retention);
      dDD_seed.push_back(ref_dd[seed] - abl_dd[seed]);
    }
    const Interval dD = paired_t_interval(dD_seed), dR = paired_t_interval(dR_seed), dDD = paired_t_interval(dDD_seed);
    json blocks_json = blocks;
    v.numbers[a] = {{"ablated_blocks", blocks_json},
                    {"D_reference", d_ref},
                    {"D_ablated", d_abl},
                    {"retention_reference", r_ref},
                    {"retention_ablated", r_abl},
                    {"D_trained_minus_init_reference", dd_ref},
                    {"D_trained_minus_init_ablated", dd_abl},
                    {"paired_seeds", dD_seed.size()},
                    {"delta_D", {dD.estimate, dD.lo, dD.hi}},
                    {"retention_drop", {dR.estimate, dR.lo, dR.hi}},
                    {"delta_D_trained_minus_init", {dDD.estimate, dDD.lo, dDD.hi}}};
    const std::vector<Check> checks = {{"ΔD = D(" + ref + ") − D(" + a + ")", dD, 0, true},
                                       {"retention drop R(" + ref + ") − R(" + a + ")", dR, 0, true},
                                       {"ΔD_trained − ΔD_init", dDD, 0, true}};
    const Verdict d = decide(checks);
    v.numbers[a]["verdict"] = to_string(d);
    if (a == primary) {
      v.checks = checks;
      v.verdict = d;
      v.measurement = "vs " + a + ": ΔD " + interval_text(dD) + ", retention drop " + interval_text(dR) +
                      ", ΔD_trained − ΔD_init " + interval_text(dDD) + " (paired over " + std::to_string(dD_seed.size()) +
                      " seeds, Student t 95 %)";
    }
  }
}

// ---- C6 from a matched start: residual slices in the layers where only one arm has residuals -----
// Per run and time t (a kept step, or the end): S_t = mean over the pairs (l, l+1), l = first_pair ..
// last_pair, of log D_t − log D_init, on the same pairs at both times (a pair whose D is undefined or
// not positive, a collapsed slot, counts as D = 1: log D = 0, no structure). Seeds are paired: the
// treated and control arms share their initial weights (and, for first-2 against all-off, their
// streams through layer 2 at initialisation), so the claim is decided on S(treated) − S(control) per
// seed, Student t. The position probe's last-layer gain treated − control is paired the same way.
//   reproduced      the end and the step-`at_step` intervals and the probe-gain interval lie above 0;
//   not reproduced  the end-of-training interval lies below 0;
//   inconclusive    otherwise.
void matched_slices(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const std::string treated = str(rule, "treated"), control = str(rule, "control");
  const int first = rule.value("first_pair", 0), last = rule.value("last_pair", 0), at_step = rule.value("at_step", 0);
  const std::string field = str(rule, "estimator", "biased") == "unbiased" ? "diagonality_index_unbiased" : "diagonality_index";
  const auto log_d = [&](const json& a, int l) {
    for (const json& p : a["pairs"])
      if (p["from"] == l && p["to"] == l + 1 && p[field].is_number() && p[field].get<double>() > 0)
        return std::log(p[field].get<double>());
    return 0.0;  // collapsed or absent: D = 1
  };
  const auto slices = [&](const json& now, const json& init) {
    std::vector<double> s;
    for (int l = first; l <= last; ++l) s.push_back(log_d(now, l) - log_d(init, l));
    return mean(s);
  };
  struct PerSeed {
    double s_end, s_step, probe_last;
  };
  // Per seed: S at the end and at the kept step, and the last-layer position accuracy at the end.
  // nullopt while any run of the condition or any of its three analyses is missing.
  const auto per_seed = [&](const std::string& c) -> std::optional<std::map<std::uint64_t, PerSeed>> {
    if (!ctx.complete(c)) return std::nullopt;
    std::map<std::uint64_t, PerSeed> out;
    for (const RunRecord* r : ctx.done(c)) {
      const auto end = ctx.analysis(*r, false), init = ctx.analysis(*r, true), step = ctx.analysis(*r, false, at_step);
      if (!end || !init || !step) return std::nullopt;
      out[r->seed] = {slices(*end, *init), slices(*step, *init), (*end)["position_probe"].back()["accuracy"].get<double>()};
    }
    return out;
  };
  const auto triple = [](const Interval& i) { return json{i.estimate, i.lo, i.hi}; };
  for (const std::string& c : strings(rule, "reported")) {
    const auto runs = per_seed(c);
    if (!runs) continue;
    std::vector<double> end, step;
    for (const auto& [seed, x] : *runs) end.push_back(x.s_end), step.push_back(x.s_step);
    v.numbers[c] = {{"S_end", end}, {"S_step", step}, {"mean_S_end", triple(paired_t_interval(end))},
                    {"mean_S_step", triple(paired_t_interval(step))}};
  }
  const auto t = per_seed(treated), k = per_seed(control);
  if (!t || !k) return;
  std::vector<double> d_end, d_step, d_probe, s_t, s_k;
  for (const auto& [seed, x] : *t)
    if (const auto y = k->find(seed); y != k->end()) {
      d_end.push_back(x.s_end - y->second.s_end);
      d_step.push_back(x.s_step - y->second.s_step);
      d_probe.push_back(x.probe_last - y->second.probe_last);
    }
  for (const auto& [seed, x] : *t) s_t.push_back(x.s_end);
  for (const auto& [seed, x] : *k) s_k.push_back(x.s_end);
  const Interval end = paired_t_interval(d_end), step = paired_t_interval(d_step), probe = paired_t_interval(d_probe);
  const std::string pairs = "pairs (" + std::to_string(first) + "," + std::to_string(first + 1) + ")…(" + std::to_string(last) +
                            "," + std::to_string(last + 1) + ")";
  v.checks = {{"S(" + treated + ") − S(" + control + ") at the end, " + pairs, end, 0, true},
              {"S(" + treated + ") − S(" + control + ") at step " + std::to_string(at_step), step, 0, true},
              {"last-layer position probe, " + treated + " − " + control, probe, 0, true}};
  v.numbers["paired"] = {{"seeds", d_end.size()},
                         {"S_end_difference", d_end},
                         {"S_step_difference", d_step},
                         {"probe_difference", d_probe},
                         {"end", triple(end)},
                         {"step", triple(step)},
                         {"probe", triple(probe)},
                         {"estimator", field}};
  v.numbers[treated] = {{"S_end", s_t}};
  v.numbers[control] = {{"S_end", s_k}};
  if (std::isnan(end.lo) || std::isnan(step.lo) || std::isnan(probe.lo)) return;  // fewer than 2 paired seeds
  v.verdict = end.lo > 0 && step.lo > 0 && probe.lo > 0 ? Verdict::reproduced
              : end.hi < 0                               ? Verdict::not_reproduced
                                                         : Verdict::inconclusive;
  v.measurement = "S(" + treated + ") − S(" + control + "), log D trained − log D init over " + pairs + ": end " +
                  interval_text(end) + ", step " + std::to_string(at_step) + " " + interval_text(step) +
                  "; last-layer position probe " + interval_text(probe) + " (paired over " + std::to_string(d_end.size()) +
                  " seeds, Student t 95 %)";
}

// ---- convergence rate above a floor --------------------------------------------------------------
void learns(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const double floor = rule.value("min_rate", 0.5);
  std::string text;
  for (const std::string& c : strings(rule, "conditions")) {
    if (!ctx.complete(c)) return;
    int k = 0;
    const auto runs = ctx.done(c);
    for (const RunRecord* r : runs) k += r->first_step_converged.has_value();
    const Interval w = wilson(k, static_cast<int>(runs.size()));
    v.checks.push_back({"convergence rate of " + c + " above " + fmt("%.2f", floor), w, floor, true});
    v.numbers[c] = {{"converged", k}, {"runs", runs.size()}, {"rate", w.estimate}, {"lo", w.lo}, {"hi", w.hi}};
    text += (text.empty() ? "" : "; ") + c + ": " + std::to_string(k) + "/" + std::to_string(runs.size()) +
            fmt(" converged (Wilson [%.2f, %.2f])", w.lo, w.hi);
  }
  v.verdict = decide(v.checks);
  v.measurement = text;
}

double ceiling_value(const Context& ctx, const json& rule) {
  if (rule.contains("ceiling") && rule["ceiling"].is_number()) return rule["ceiling"].get<double>();
  const fs::path file = fs::path(ctx.plan.path).parent_path() / str(rule, "ceiling_file", "../ceilings/addition3.json");
  const json c = json::parse(read_file(file.string()));
  return c["whole_answer_teacher_forced"]["upper_bound_value"].get<double>();
}

// ---- best exact match of every run below the Bayes ceiling ----------------------------------------
void under_ceiling(const Context& ctx, const json& rule, const std::vector<std::string>& conditions, ClaimVerdict& v,
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
    v.checks.push_back({"best exact match of any " + c + " run below the ceiling " + fmt("%.4f", ceiling), w, ceiling, false});
    v.numbers[c] = {{"best_exact_any_run", w.estimate}, {"run", worst->run_id}, {"lo", w.lo}, {"hi", w.hi}, {"ceiling", ceiling}};
    char b[200];
    std::snprintf(b, sizeof b, ": best exact match of any seed %.4f (Wilson [%.4f, %.4f]) vs ceiling %.4f", w.estimate, w.lo,
                  w.hi, ceiling);
    text += (text.empty() ? "" : "; ") + c + b;
  }
}

// ---- X2: linear position probes, last layer against layer 0 -------------------------------------
// Student-t intervals over seeds: of the last layer's mean accuracy, and of the per-seed gain of the
// last layer over layer 0 (paired within each run).
void position_probe(const Context& ctx, const json& rule, ClaimVerdict& v) {
  // Per run: the position probe's accuracy at layer 0 and at the last layer.
  const auto accuracies = [&](const std::string& c, std::vector<double>& first, std::vector<double>& last) {
    for (const RunRecord* r : ctx.done(c))
      if (const auto a = ctx.analysis(*r, false)) {
        const json& p = (*a)["position_probe"];
        first.push_back(p.front()["accuracy"].get<double>());
        last.push_back(p.back()["accuracy"].get<double>());
      }
  };
  std::string text;
  const double floor = rule.value("min_accuracy", 0.9), max_gain = rule.value("max_gain", 0.02);
  for (const std::string& c : strings(rule, "learns_position")) {
    if (!ctx.complete(c)) return;
    std::vector<double> first, last;
    accuracies(c, first, last);
    if (last.empty()) return;
    const Interval i = paired_t_interval(last);
    v.checks.push_back({"last-layer position accuracy of " + c + " above " + fmt("%.2f", floor), i, floor, true});
    v.numbers[c] = {{"layer0", first}, {"last_layer", last}, {"mean_last", {i.estimate, i.lo, i.hi}}};
    text += (text.empty() ? "" : "; ") + c + ": last layer " + interval_text(i) + fmt(" (layer 0: %.3f)", mean(first));
  }
  for (const std::string& c : strings(rule, "blind")) {
    if (!ctx.complete(c)) return;
    std::vector<double> first, last, gain;
    accuracies(c, first, last);
    if (last.empty()) return;
    for (std::size_t k = 0; k < last.size(); ++k) gain.push_back(last[k] - first[k]);
    const Interval i = paired_t_interval(gain);
    v.checks.push_back({"position gain of " + c + " over layer 0 below " + fmt("%.2f", max_gain), i, max_gain, false});
    v.numbers[c] = {{"layer0", first}, {"last_layer", last}, {"mean_gain", {i.estimate, i.lo, i.hi}}};
    text += (text.empty() ? "" : "; ") + c + ": gain over layer 0 " + interval_text(i);
  }
  v.verdict = decide(v.checks);
  v.measurement = text + " (Student t 95 % over seeds)";
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
            fmt(" (lowest %.4f)", worst);
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
  const auto steps_by_seed = [&](const std::string& c) {
    const int budget = ctx.condition(c) ? ctx.condition(c)->steps : ctx.plan.steps;
    std::map<std::uint64_t, double> s;
    for (const RunRecord* r : ctx.done(c)) s[r->seed] = r->first_step_converged ? *r->first_step_converged : budget;
    return s;
  };
  const auto values = [](const std::map<std::uint64_t, double>& m) {
    std::vector<double> out;
    for (const auto& [seed, x] : m) out.push_back(x);
    return out;
  };
  const auto converged = [&](const std::string& c) {
    int k = 0;
    for (const RunRecord* r : ctx.done(c)) k += r->first_step_converged.has_value();
    return k;
  };
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
    v.measurement = name + fmt(": gap to AdamW without biases %.0f steps without biases, %.0f with; narrowing ", gap_none, gap_bias) +
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

// ---- B4: token keys align with the bias direction -------------------------------------------------
// Per run: the mean over (layer, head) of the alignment z-score (max over tokens of cos(key, mean
// query bias) against random directions of the same norm), from the raw keys W_K·e_t or the actual
// ones, and the share of (layer, head) whose best-aligned token is a structure token (not a digit:
// '+', '=', BOS, the delimiter). Seeds are paired (the same initial weights with and without the
// biases): the claim is decided on z(with) − z(without) per seed and on the with-bias runs' mean z
// against 1.96, each with a Student-t 95 % interval. The structure share is reported, paired the same
// way, and decides nothing.
void alignment(const Context& ctx, const json& rule, ClaimVerdict& v) {
  const std::string with = str(rule, "with_bias"), without = str(rule, "without_bias"), which = str(rule, "keys", "actual");
  if (!ctx.complete(with) || !ctx.complete(without)) return;
  struct PerRun {
    double z, structure_share;
  };
  const auto per_seed = [&](const std::string& c) {
    std::map<std::uint64_t, PerRun> out;
    for (const RunRecord* r : ctx.done(c))
      if (const auto a = ctx.analysis(*r, false)) {
        const json& m = (*a)["alignment"]["mean_z_" + which];
        if (m.is_null()) continue;
        int heads = 0, structure = 0;
        for (const json& layer : (*a)["alignment"]["layers"])
          for (const json& head : layer["heads"]) {
            const std::string top = head[which]["ranking"].front()["token"].get<std::string>();
            ++heads;
            structure += !(top.size() == 1 && top[0] >= '0' && top[0] <= '9');
          }
        out[r->seed] = {m.get<double>(), heads ? static_cast<double>(structure) / heads : kNaN};
      }
    return out;
  };
  const auto b = per_seed(with), n = per_seed(without);
  std::vector<double> zb, zn, dz, share_b, share_n, dshare;
  for (const auto& [seed, x] : b) zb.push_back(x.z), share_b.push_back(x.structure_share);
  for (const auto& [seed, x] : n) zn.push_back(x.z), share_n.push_back(x.structure_share);
  for (const auto& [seed, x] : b)
    if (const auto y = n.find(seed); y != n.end()) {
      dz.push_back(x.z - y->second.z);
      dshare.push_back(x.structure_share - y->second.structure_share);
    }
  if (dz.size() < 2 || zb.size() < 2) return;
  const Interval diff = paired_t_interval(dz), biased = paired_t_interval(zb), share = paired_t_interval(dshare);
  const auto triple = [](const Interval& i) { return json{i.estimate, i.lo, i.hi}; };
  v.checks = {{"z(" + with + ") − z(" + without + "), paired per seed", diff, 0, true},
              {"mean z(" + with + ") above 1.96", biased, 1.96, true}};
  v.numbers = {{"keys", which},
               {"z_with_bias", zb},
               {"z_without_bias", zn},
               {"paired_seeds", dz.size()},
               {"difference", triple(diff)},
               {"z_biased", triple(biased)},
               {"structure_share_with_bias", share_b},
               {"structure_share_without_bias", share_n},
               {"structure_share_difference", triple(share)}};
  v.verdict = decide(v.checks);
  v.measurement = "alignment z (" + which + " keys): with biases " + interval_text(biased) + ", paired difference to " + without +
                  " " + interval_text(diff) + " (Student t 95 %, " + std::to_string(dz.size()) +
                  " seeds); share of heads whose best-aligned token is a structure token, paired difference " +
                  interval_text(share) + " (reported)";
}

}  // namespace

namespace {

// Every rule's keys, in one table: the keys that name conditions, and the parameters with their type.
// Plans are read strictly: a key not listed here (a misspelt parameter would otherwise fall back to
// its default and could change a verdict) is an error that names it.
enum class Kind { number, text, names, name, comparisons };
struct RuleKey {
  const char* key;
  Kind kind;
};
struct RuleSpec {
  const char* name;
  std::vector<RuleKey> keys;  // besides "rule", "statement", "holds_if" and "min_seeds"
};
const std::vector<RuleSpec>& rule_table() {
  static const std::vector<RuleSpec> table = {
      {"convergence_drop", {{"reference", Kind::name}, {"ablations", Kind::names}}},
      {"diagonal_structure", {{"reference", Kind::name}, {"primary", Kind::name}, {"ablations", Kind::names}}},
      {"learns", {{"conditions", Kind::names}, {"min_rate", Kind::number}}},
      {"under_ceiling", {{"conditions", Kind::names}, {"ceiling", Kind::number}, {"ceiling_file", Kind::text}, {"test_size", Kind::number}}},
      {"ceiling_and_learns",
       {{"under_ceiling", Kind::names},
        {"learns", Kind::names},
        {"ceiling", Kind::number},
        {"ceiling_file", Kind::text},
        {"test_size", Kind::number}}},
      {"ends_converged", {{"conditions", Kind::names}, {"min_final", Kind::number}}},
      {"position_probe",
       {{"learns_position", Kind::names},
        {"blind", Kind::names},
        {"min_accuracy", Kind::number},
        {"max_gain", Kind::number}}},
      {"gap_narrows", {{"comparisons", Kind::comparisons}, {"primary", Kind::text}}},
      {"alignment", {{"with_bias", Kind::name}, {"without_bias", Kind::name}, {"keys", Kind::text}}},
      {"matched_slices",
       {{"treated", Kind::name},
        {"control", Kind::name},
        {"reported", Kind::names},
        {"first_pair", Kind::number},
        {"last_pair", Kind::number},
        {"at_step", Kind::number},
        {"estimator", Kind::text}}},
  };
  return table;
}

// The conditions a rule reads: every key of kind name, names or comparisons (convergence_drop
// without "ablations" reads every condition of the plan).
std::vector<std::string> rule_conditions(const Plan& plan, const json& rule) {
  std::vector<std::string> out;
  const std::string name = rule.value("rule", "");
  if (name == "convergence_drop" && !rule.contains("ablations"))
    for (const auto& c : plan.conditions) out.push_back(c.name);
  for (const RuleSpec& spec : rule_table()) {
    if (spec.name != name) continue;
    for (const RuleKey& k : spec.keys) {
      if (!rule.contains(k.key)) continue;
      const json& v = rule[k.key];
      if (k.kind == Kind::name && v.is_string()) out.push_back(v.get<std::string>());
      if (k.kind == Kind::names && v.is_array())
        for (const json& x : v) out.push_back(x.get<std::string>());
      if (k.kind == Kind::comparisons && v.is_array())
        for (const json& c : v)
          for (const auto& [ck, cv] : c.items())
            if (ck != "name" && cv.is_string()) out.push_back(cv.get<std::string>());
    }
  }
  return out;
}

// The plan's minimum evidence: a rule with "min_seeds" decides nothing (reproduced or not) while
// any condition it reads has fewer finished seeds; it says "inconclusive: too few seeds".
void require_min_seeds(const Context& ctx, const json& rule, ClaimVerdict& v) {
  if (!rule.contains("min_seeds") || v.verdict == Verdict::not_run) return;
  const int need = rule["min_seeds"].get<int>();
  std::string short_of;
  for (const std::string& c : rule_conditions(ctx.plan, rule)) {
    const int have = static_cast<int>(ctx.done(c).size());
    if (have < need && short_of.find(c + " ") == std::string::npos)
      short_of += (short_of.empty() ? "" : ", ") + c + " " + std::to_string(have);
  }
  v.numbers["min_seeds"] = need;
  if (short_of.empty()) return;
  v.verdict = Verdict::inconclusive;
  v.measurement += (v.measurement.empty() ? "" : "; ") + std::string("inconclusive: too few seeds (the plan requires ") +
                   std::to_string(need) + " per condition; finished: " + short_of + ")";
}

std::string rule_names() {
  std::string s;
  for (const RuleSpec& r : rule_table()) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}

}  // namespace

void check_decision(const Plan& plan) {
  if (!plan.decision.is_object()) return;
  const auto fail = [&](const std::string& field, const std::string& what) {
    throw ConfigError(plan.path + ": \"decision." + field + "\" " + what);
  };
  const auto known = [&](const std::string& name) {
    for (const auto& c : plan.conditions)
      if (c.name == name) return true;
    return false;
  };
  const auto condition = [&](const std::string& field, const json& v) {
    if (!v.is_string()) fail(field, "must be a condition name (a string)");
    if (!known(v.get<std::string>()))
      fail(field, "names the condition \"" + v.get<std::string>() + "\", which the plan does not have");
  };
  for (const auto& [id, rule] : plan.decision.items()) {
    if (!rule.is_object()) fail(id, "must be an object with a \"rule\"");
    if (!rule.contains("rule") || !rule["rule"].is_string()) fail(id + ".rule", "is missing (allowed: " + rule_names() + ")");
    const std::string name = rule["rule"].get<std::string>();
    const auto& table = rule_table();
    const auto spec = std::find_if(table.begin(), table.end(), [&](const RuleSpec& r) { return r.name == name; });
    if (spec == table.end()) fail(id + ".rule", "\"" + name + "\" is not a known rule (allowed: " + rule_names() + ")");
    for (const auto& [key, value] : rule.items()) {
      const std::string field = id + "." + key;
      if (key == "rule") continue;
      if (key == "statement" || key == "holds_if") {
        if (!value.is_string()) fail(field, "must be a string");
        continue;
      }
      if (key == "min_seeds") {
        if (!value.is_number_integer() || value.get<long long>() < 1) fail(field, "must be a whole number of seeds, at least 1");
        continue;
      }
      const auto k = std::find_if(spec->keys.begin(), spec->keys.end(), [&](const RuleKey& r) { return key == r.key; });
      if (k == spec->keys.end()) {
        std::string allowed = "rule, statement, holds_if, min_seeds";
        for (const RuleKey& r : spec->keys) allowed += ", " + std::string(r.key);
        fail(field, "is not a parameter of the rule " + name + " (allowed: " + allowed + ")");
      }
      switch (k->kind) {
        case Kind::number:
          if (!value.is_number()) fail(field, "must be a number");
          break;
        case Kind::text:
          if (!value.is_string()) fail(field, "must be a string");
          break;
        case Kind::name: condition(field, value); break;
        case Kind::names:
          if (!value.is_array()) fail(field, "must be a list of condition names");
          for (const json& x : value) condition(field, x);
          break;
        case Kind::comparisons:
          if (!value.is_array()) fail(field, "must be a list of comparisons");
          for (const json& c : value) {
            if (!c.is_object()) fail(field, "must hold objects (name, optimizer_without, optimizer_with, adamw_without, adamw_with)");
            for (const auto& [ck, cv] : c.items()) {
              if (ck == "name") {
                if (!cv.is_string()) fail(field + ".name", "must be a string");
              } else if (ck == "optimizer_without" || ck == "optimizer_with" || ck == "adamw_without" || ck == "adamw_with") {
                condition(field + "." + ck, cv);
              } else {
                fail(field + "." + ck,
                     "is not a key of a comparison (allowed: name, optimizer_without, optimizer_with, adamw_without, adamw_with)");
              }
            }
          }
          break;
      }
    }
    if (name == "alignment" && rule.contains("keys") && rule["keys"] != "raw" && rule["keys"] != "actual")
      fail(id + ".keys", "must be \"raw\" (W_K·e_t) or \"actual\" (the mean key at the token's positions)");
    if (name == "matched_slices") {
      for (const char* key : {"treated", "control", "first_pair", "last_pair", "at_step"})
        if (!rule.contains(key)) fail(id + "." + key, "is required by the rule matched_slices");
      for (const char* key : {"first_pair", "last_pair", "at_step"})
        if (!rule[key].is_number_integer() || rule[key].get<long long>() < 0) fail(id + "." + key, "must be a whole number, at least 0");
      if (rule["first_pair"].get<int>() > rule["last_pair"].get<int>()) fail(id + ".first_pair", "is after last_pair");
      const int at = rule["at_step"].get<int>();
      if (std::find(plan.analysis_at_steps.begin(), plan.analysis_at_steps.end(), at) == plan.analysis_at_steps.end())
        fail(id + ".at_step", std::to_string(at) + " is not one of the plan's analysis.at_steps");
      if (rule.contains("estimator") && rule["estimator"] != "biased" && rule["estimator"] != "unbiased")
        fail(id + ".estimator", "must be \"biased\" or \"unbiased\" (the HSIC estimator behind D)");
      for (const auto& c : plan.conditions) {
        const int layers = parse_train_config(c.config_json, c.name).model.layers;
        if (rule["last_pair"].get<int>() >= layers)
          fail(id + ".last_pair", "names the pair (" + std::to_string(rule["last_pair"].get<int>()) + ", " +
                                      std::to_string(rule["last_pair"].get<int>() + 1) + "), beyond the " + std::to_string(layers) +
                                      " layers of condition \"" + c.name + "\"");
      }
    }
    if ((name == "under_ceiling" || name == "ceiling_and_learns") && !rule.contains("ceiling")) {
      const fs::path file = fs::path(plan.path).parent_path() / rule.value("ceiling_file", "../ceilings/addition3.json");
      if (!fs::exists(file)) fail(id + ".ceiling_file", "\"" + file.string() + "\" does not exist");
    }
  }
}

std::vector<ClaimVerdict> evaluate_plan(const Plan& plan, const std::string& out_dir) {
  std::vector<ClaimVerdict> out;
  if (!plan.decision.is_object()) return out;
  const std::string db = out_dir + "/ledger.sqlite";
  Context ctx{plan, out_dir, {}};
  if (fs::exists(db)) ctx.runs = Ledger(db, true).runs();
  for (const auto& [id, rule] : plan.decision.items()) {
    ClaimVerdict v;
    v.id = id;
    v.rule = str(rule, "rule");
    v.statement = str(rule, "statement");
    v.numbers = json::object();
    if (v.rule == "convergence_drop") convergence_drop(ctx, rule, v);
    else if (v.rule == "diagonal_structure") diagonal_structure(ctx, rule, v);
    else if (v.rule == "learns") learns(ctx, rule, v);
    else if (v.rule == "under_ceiling") {
      std::string text;
      under_ceiling(ctx, rule, strings(rule, "conditions"), v, text);
      v.verdict = decide(v.checks);
      v.measurement = text;
    } else if (v.rule == "ceiling_and_learns") {
      std::string text;
      under_ceiling(ctx, rule, strings(rule, "under_ceiling"), v, text);
      for (const std::string& c : strings(rule, "learns")) {
        if (!ctx.complete(c)) continue;
        int k = 0;
        const auto runs = ctx.done(c);
        for (const RunRecord* r : runs) k += r->first_step_converged.has_value();
        const Interval w = wilson(k, static_cast<int>(runs.size()));
        v.checks.push_back({c + " converges on some seed (rate above 0)", w, 0, true});
        v.numbers[c] = {{"converged", k}, {"runs", runs.size()}, {"lo", w.lo}, {"hi", w.hi}};
        text += "; " + c + ": " + std::to_string(k) + "/" + std::to_string(runs.size()) +
                fmt(" converged (Wilson [%.2f, %.2f])", w.lo, w.hi);
      }
      v.verdict = decide(v.checks);
      v.measurement = text;
    } else if (v.rule == "ends_converged") ends_converged(ctx, rule, v);
    else if (v.rule == "position_probe") position_probe(ctx, rule, v);
    else if (v.rule == "gap_narrows") gap_narrows(ctx, rule, v);
    else if (v.rule == "alignment") alignment(ctx, rule, v);
    else if (v.rule == "matched_slices") matched_slices(ctx, rule, v);
    else
      throw ConfigError(plan.path + ": \"decision." + id + ".rule\": \"" + v.rule + "\" is not a known rule (allowed: " +
                        rule_names() + ")");
    require_min_seeds(ctx, rule, v);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace symbreak::experiments
