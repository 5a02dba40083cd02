// The rules on the analyses of trained models: C6 (diagonal_structure), C6 from a matched start
// (matched_slices), X2 (position_probe), B4 (alignment).
#include <algorithm>
#include <cmath>
#include <map>

#include "rules.hpp"
#include "symbreak/experiments/stats.hpp"
#include "symbreak/experiments/train_config.hpp"

namespace symbreak::experiments::rules {
namespace {

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
SliceNumbers slice_numbers(const RunAnalysis& a, const std::vector<int>& blocks) {
  std::vector<double> Ds, Rs;
  for (int l : blocks) {
    const PairMeasures* p = a.pair(l, l + 1);
    Ds.push_back(p && !std::isnan(p->diagonality_index) ? p->diagonality_index : 1.0);  // collapsed or absent: no structure
    const auto stream = static_cast<std::size_t>(l + 1);
    if (stream < a.retention.size() && !std::isnan(a.retention[stream].own_token)) Rs.push_back(a.retention[stream].own_token);
  }
  return {mean(Ds), mean(Rs)};
}

}  // namespace

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
  const bool unbiased = str(rule, "estimator", "biased") == "unbiased";
  const std::string field = unbiased ? "diagonality_index_unbiased" : "diagonality_index";
  const auto log_d = [&](const RunAnalysis& a, int l) {
    const PairMeasures* p = a.pair(l, l + 1);
    const double D = !p ? kNaN : unbiased ? p->diagonality_index_unbiased : p->diagonality_index;
    return D > 0 ? std::log(D) : 0.0;  // collapsed or absent (NaN): D = 1
  };
  const auto slices = [&](const RunAnalysis& now, const RunAnalysis& init) {
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
      out[r->seed] = {slices(*end, *init), slices(*step, *init), end->position_probe.back().accuracy};
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
// ---- X2: linear position probes, last layer against layer 0 -------------------------------------
// Student-t intervals over seeds: of the last layer's mean accuracy, and of the per-seed gain of the
// last layer over layer 0 (paired within each run).
void position_probe(const Context& ctx, const json& rule, ClaimVerdict& v) {
  // Per run: the position probe's accuracy at layer 0 and at the last layer.
  const auto accuracies = [&](const std::string& c, std::vector<double>& first, std::vector<double>& last) {
    for (const RunRecord* r : ctx.done(c))
      if (const auto a = ctx.analysis(*r, false)) {
        first.push_back(a->position_probe.front().accuracy);
        last.push_back(a->position_probe.back().accuracy);
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
    v.checks.push_back({"last-layer position accuracy of " + c + " above " + ftext("%.2f", floor), i, floor, true});
    v.numbers[c] = {{"layer0", first}, {"last_layer", last}, {"mean_last", {i.estimate, i.lo, i.hi}}};
    text += (text.empty() ? "" : "; ") + c + ": last layer " + interval_text(i) + ftext(" (layer 0: %.3f)", mean(first));
  }
  for (const std::string& c : strings(rule, "blind")) {
    if (!ctx.complete(c)) return;
    std::vector<double> first, last, gain;
    accuracies(c, first, last);
    if (last.empty()) return;
    for (std::size_t k = 0; k < last.size(); ++k) gain.push_back(last[k] - first[k]);
    const Interval i = paired_t_interval(gain);
    v.checks.push_back({"position gain of " + c + " over layer 0 below " + ftext("%.2f", max_gain), i, max_gain, false});
    v.numbers[c] = {{"layer0", first}, {"last_layer", last}, {"mean_gain", {i.estimate, i.lo, i.hi}}};
    text += (text.empty() ? "" : "; ") + c + ": gain over layer 0 " + interval_text(i);
  }
  v.verdict = decide(v.checks);
  v.measurement = text + " (Student t 95 % over seeds)";
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
        const double z = which == "raw" ? a->alignment.mean_z_raw : a->alignment.mean_z_actual;
        if (std::isnan(z)) continue;
        int heads = 0, structure = 0;
        for (const LayerAlignment& layer : a->alignment.layers)
          for (const HeadAlignment& head : layer.heads) {
            const AlignmentStatistic& s = which == "raw" ? head.raw : head.actual;
            if (s.ranking.empty()) continue;
            const std::string& top = s.ranking.front().token;
            ++heads;
            structure += !(top.size() == 1 && top[0] >= '0' && top[0] <= '9');
          }
        out[r->seed] = {z, heads ? static_cast<double>(structure) / heads : kNaN};
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

}  // namespace symbreak::experiments::rules
