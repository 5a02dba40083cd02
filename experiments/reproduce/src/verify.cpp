// reproduce --verify: check the committed default-scale evidence on this machine instead of deciding
// again from a few small runs. Two checks per committed sweep (experiments/results/sweeps/NAME):
//   tables   results.md as committed equals what the ledger and the runs' files give now (the
//            verdicts recomputed by the rules, seconds);
//   replays  one run per condition (its lowest finished seed) retrained on this machine up to its
//            first evaluation, with the seed, config and thread count it ran with, and compared with
//            the committed metrics.csv at that step.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <future>
#include <sstream>
#include <string_view>

#include "internal.hpp"
#include "symbreak/experiments/trainer.hpp"
#include "symbreak/io.hpp"

namespace symbreak::experiments::detail {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The ISA flags of the build that trained the committed runs (CMake's default SYMBREAK_ARCH_FLAGS).
constexpr std::string_view kCommittedRunsArchFlags = "-march=x86-64-v3";
// The OpenBLAS kernels that trained a committed run: run.json's "blas_kernels", else Haswell's (every
// run before the trainer recorded them was trained on AVX2 machines). OpenBLAS picks its kernels by the
// CPU at run time, and on an AVX-512 machine it picks others (Cooperlake, SkylakeX) whose sums round
// differently, which early training amplifies into a different trajectory. So a replay runs with the
// run's kernels, unless the caller chose some with OPENBLAS_CORETYPE (experiments/scripts/two-builds.sh).
std::string blas_kernels_of(const json& run, const std::string& run_dir) {
  if (!run.is_object() || !run.contains("blas_kernels")) return "Haswell";
  const json& kernels = run["blas_kernels"];
  const std::string name = kernels.is_string() ? kernels.get<std::string>() : "";
  // It becomes part of a shell command: a core name (letters and digits) or nothing.
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c); }))
    throw ConfigError(run_dir + "/run.json: \"blas_kernels\" must be an OpenBLAS core name (letters and digits), not " +
                      kernels.dump());
  return name;
}

// The product blocking a committed run was trained with (core's layers.hpp): run.json's
// "product_blocking", three positive byte counts, as the flags of its replay; absent: none (the
// trainer's fixed default, which every run trained after the pin records).
std::string product_blocking_flag(const json& run, const std::string& run_dir) {
  if (!run.is_object() || !run.contains("product_blocking")) return "";
  const json& sizes = run["product_blocking"];
  const bool valid = sizes.is_array() && sizes.size() == 3 &&
                     std::all_of(sizes.begin(), sizes.end(), [](const json& v) { return v.is_number_integer() && v.get<long>() > 0; });
  if (!valid)
    throw ConfigError(run_dir + "/run.json: \"product_blocking\" must be three positive byte counts [l1, l2, l3], not " +
                      sizes.dump());
  return fmt::format(" --product-blocking {},{},{}", sizes[0].get<long>(), sizes[1].get<long>(), sizes[2].get<long>());
}

// The environment a replay's `symbreak train` runs in.
std::string replay_environment(const std::string& kernels) {
  return std::getenv("OPENBLAS_CORETYPE") ? "" : "OPENBLAS_CORETYPE=" + kernels + " ";
}

// The row of metrics.csv at `step`, if any (the file missing or malformed: none).
std::optional<MetricsRow> metrics_at(const std::string& path, int step) {
  try {
    for (const MetricsRow& row : read_metrics_csv(path))
      if (row.step == step) return row;
  } catch (const std::runtime_error&) {
  }
  return std::nullopt;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// The engine that trained a committed run: run.json's "engine", else what its files and its end
// time say (kEngineHistory): without test_held_out it is 1; otherwise the last change before it ended.
int engine_of(const json& run, const RunRecord& r) {
  if (run.is_object() && run.contains("engine") && run["engine"].is_number_integer()) return run["engine"].get<int>();
  if (!run.is_object() || !run.value("test_held_out", false)) return 1;
  int engine = 2;
  for (const EngineChange& c : kEngineHistory)
    if (c.engine > engine && r.ended_at >= c.since_utc) engine = c.engine;
  return engine;
}

// What changed after engine `e` (the changes a replay of its runs cannot match).
std::string changes_since(int e) {
  std::string out;
  for (const EngineChange& c : kEngineHistory)
    if (c.engine > e) out += (out.empty() ? "" : "; ") + std::string(c.what);
  return out;
}

}  // namespace

// The columns compared, and how far each may move on another machine: the loss by 1 % of itself,
// the accuracies by 0.01 (20 of the 2,000 test prompts). With the same build flags and thread count
// the numbers are expected to agree to the last printed digit, and the report says when they do.
constexpr double kLossRelative = 0.01, kAccuracyAbsolute = 0.01;
std::vector<std::pair<std::string, double>> compared_columns(const MetricsRow& r) {
  return {{"loss", r.loss},
          {"test_exact_match", r.eval.exact_match},
          {"digit0", r.eval.per_digit[0]},
          {"digit1", r.eval.per_digit[1]},
          {"digit2", r.eval.per_digit[2]},
          {"digit3", r.eval.per_digit[3]}};
}

std::vector<std::string> committed_sweeps(const ReproduceOptions& o, const std::string& plans_dir) {
  std::vector<std::string> names;
  if (!fs::exists(o.committed_sweeps)) return names;
  for (const auto& e : fs::directory_iterator(o.committed_sweeps))
    if (fs::exists(e.path() / "ledger.sqlite") && fs::exists(e.path() / "results.md") &&
        fs::exists(plans_dir + "/" + e.path().filename().string() + ".json"))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<VerifyRow> verify_committed(const ReproduceOptions& o, const std::string& plans_dir,
                                        const std::function<void(const std::string&)>& log) {
  std::vector<VerifyRow> rows;
  struct Replay {
    std::string sweep, run_id, config, committed, out;
    std::uint64_t seed;
    int step, threads, engine;
    std::string blas_kernels, product_blocking;
  };
  std::vector<Replay> replays;
  for (const std::string& name : committed_sweeps(o, plans_dir)) {
    const std::string plan_path = plans_dir + "/" + name + ".json", dir = o.committed_sweeps + "/" + name;
    VerifyRow tables;
    tables.sweep = name;
    tables.what = "results.md against the ledger (every verdict recomputed by the plan's rules)";
    const Plan plan = load_plan(plan_path);
    const std::string committed = read_file(dir + "/results.md"), now = sweep_markdown(plan, dir);
    tables.ok = committed == now;
    tables.status = tables.ok ? "identical" : "differs";
    tables.detail = tables.ok ? "identical" : "differs: the committed tables are not what the ledger gives now";
    tables.command = "symbreak sweep --plan " + plan_path + " --out " + dir + " --markdown";
    rows.push_back(tables);
    const auto runs = Ledger(dir + "/ledger.sqlite", true).runs();
    for (const PlanCondition& c : plan.conditions) {
      const RunRecord* first = nullptr;
      for (const RunRecord& r : runs)
        if (r.condition == c.name && r.status == RunStatus::done && (!first || r.seed < first->seed)) first = &r;
      if (!first) continue;
      const std::string metrics = dir + "/runs/" + first->run_id + "/metrics.csv";
      std::vector<MetricsRow> rows;
      try {
        rows = read_metrics_csv(metrics);
      } catch (const std::runtime_error&) {
      }
      if (rows.empty() || rows.front().step <= 0) continue;
      const int step = rows.front().step;
      const std::string run_dir = dir + "/runs/" + first->run_id;
      const json run = json::parse(read_file(run_dir + "/run.json"), nullptr, false);  // malformed: not an object
      replays.push_back({name, first->run_id, dir + "/configs/" + c.name + ".json", metrics,
                         o.out_dir + "/replays/" + name + "/" + first->run_id, first->seed, step, std::max(1, first->threads),
                         engine_of(run, *first), blas_kernels_of(run, run_dir), product_blocking_flag(run, run_dir)});
    }
  }
  // The replays, o.jobs at a time, each a `symbreak train` process as the sweep ran it.
  log("verify: retraining " + std::to_string(replays.size()) + " committed runs to their first evaluation, " +
      std::to_string(o.jobs) + " at a time");
  const auto command = [&](const Replay& r) {
    return replay_environment(r.blas_kernels) + quoted(o.worker) + " train --config " + quoted(r.config) + " --seed " +
           std::to_string(r.seed) + " --out " + quoted(r.out) + " --steps " + std::to_string(r.step) + " --threads " + std::to_string(r.threads) + r.product_blocking;
  };
  std::vector<int> status(replays.size(), -1);
  for (std::size_t at = 0; at < replays.size(); at += static_cast<std::size_t>(o.jobs)) {
    std::vector<std::future<int>> batch;
    for (std::size_t k = at; k < std::min(replays.size(), at + static_cast<std::size_t>(o.jobs)); ++k) {
      fs::remove_all(replays[k].out);
      fs::create_directories(replays[k].out);
      batch.push_back(std::async(std::launch::async, [&, k] {
        return std::system((command(replays[k]) + " > " + quoted(replays[k].out + "/train.log") + " 2>&1").c_str());
      }));
    }
    for (std::size_t k = 0; k < batch.size(); ++k) status[at + k] = batch[k].get();
  }
  for (std::size_t k = 0; k < replays.size(); ++k) {
    const Replay& r = replays[k];
    VerifyRow row;
    row.sweep = r.sweep;
    row.what = "retrain " + r.run_id + " to step " + std::to_string(r.step);
    row.command = command(r);
    const auto want = metrics_at(r.committed, r.step), got = metrics_at(r.out + "/metrics.csv", r.step);
    if (status[k] != 0 || !want || !got) {
      row.ok = false;
      row.status = "failed";
      row.detail = !want ? "the committed " + r.committed + " has no row at step " + std::to_string(r.step)
                         : "the training failed (" + r.out + "/train.log)";
      rows.push_back(row);
      continue;
    }
    bool identical = true, within = true;
    std::string worst;
    double worst_excess = -1;
    const auto committed_columns = compared_columns(*want), replayed_columns = compared_columns(*got);
    for (std::size_t c = 0; c < committed_columns.size(); ++c) {
      const auto& [col, a] = committed_columns[c];
      const double b = replayed_columns[c].second;
      identical = identical && a == b;  // both parsed from text printed the same way: equal text, equal value
      const double bound = col == "loss" ? kLossRelative * std::abs(a) : kAccuracyAbsolute;
      const double excess = std::abs(a - b) / bound;
      within = within && excess <= 1;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = fmt::format("{} {:.6g} against {:.6g} committed", col, b, a);
      }
    }
    // A run of an older engine cannot be replayed bit for bit; a difference there is expected and
    // reported, never a failure. Nor can a build for another ISA: without FMA and with narrower
    // vectors every rounding differs, and early training amplifies a last-bit difference into a
    // different trajectory (experiments/results/two-builds). With the current engine on the committed
    // runs' ISA, outside the tolerance is a failure.
    const bool older = r.engine < kTrainingEngine;
    const bool other_isa = std::string_view(SYMBREAK_ARCH_FLAGS) != kCommittedRunsArchFlags;
    row.ok = within || older || other_isa;
    row.status = identical   ? "identical"
                 : within    ? "within tolerance"
                 : older     ? "older engine"
                 : other_isa ? "other ISA build"
                             : "differs";
    row.detail = identical ? fmt::format("identical to the committed numbers (loss {:.6f}, exact {:.4f})", got->loss,
                                         got->eval.exact_match)
                 : within  ? "within tolerance, not identical; largest: " + worst
                 : older   ? "trained by engine " + std::to_string(r.engine) + ", before: " + changes_since(r.engine) +
                               "; the retraining differs as expected (largest: " + worst + ")"
                 : other_isa ? fmt::format(
                                   "this build is {}, the committed runs were trained by a {} build; the retraining "
                                   "differs as expected (largest: {})",
                                   SYMBREAK_ARCH_FLAGS, kCommittedRunsArchFlags, worst)
                             : "outside tolerance: " + worst;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace symbreak::experiments::detail
