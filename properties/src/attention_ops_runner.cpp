// Searching for op-level failures with RapidCheck, shrinking them, and saving them as replayable case
// directories.
#include <rapidcheck.h>
#include <rapidcheck/detail/TestListener.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"
#include "symbreak/properties/attention_ops.hpp"
#include "symbreak/properties/generators.hpp"
#include "symbreak/rng.hpp"

namespace symbreak::props::ops {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// ---- Generating cases --------------------------------------------------------------------------

enum class SizeClass { small, odd, long_keys, single_key, long_square };
enum class MaskKind { none, random, band, one_per_row };
enum class ScaleKind { inverse_sqrt, random, tiny, large };
enum class Values { simple, normal, near_tie, huge_logits, below_floor, tiny };

struct Spec {
  int batch = 1, heads = 1, n_q = 1, n_k = 1, d_head = 1, d_v = 1;
  bool causal = false;
  MaskKind mask = MaskKind::none;
  ScaleKind scale = ScaleKind::inverse_sqrt;
  Values values = Values::simple;
  std::uint64_t seed = 0;
};

AttentionOp materialize(const Spec& s) {
  AttentionOp op;
  op.batch = s.batch;
  op.heads = s.heads;
  op.n_q = s.n_q;
  op.n_k = s.causal ? s.n_q : s.n_k;
  op.d_head = s.d_head;
  op.d_v = s.d_v;
  op.causal = s.causal;
  Rng rng(s.seed);
  switch (s.scale) {
    case ScaleKind::inverse_sqrt: op.scale = 1.0f / std::sqrt(static_cast<float>(op.d_head)); break;
    case ScaleKind::random: op.scale = static_cast<float>(0.05 + 4 * rng.uniform()); break;
    case ScaleKind::tiny: op.scale = 1e-3f; break;
    case ScaleKind::large: op.scale = 30.0f; break;
  }
  const auto fill = [&](std::vector<float>& x, std::size_t n, double scale) {
    x.resize(n);
    for (float& v : x) {
      if (s.values == Values::simple) v = static_cast<float>(static_cast<int>(rng.below(3)) - 1);
      else v = static_cast<float>(rng.normal() * scale);
    }
  };
  const double logit_scale = std::sqrt(1e6 / (std::abs(op.scale) * op.d_head));
  const double qk = s.values == Values::tiny ? 1e-20 : s.values == Values::huge_logits ? logit_scale : 1.0;
  fill(op.q, op.q_size(), s.values == Values::near_tie ? 1e-4 : qk);
  fill(op.k, op.k_size(), qk);
  fill(op.v, op.v_size(), s.values == Values::tiny ? 1e-20 : 1.0);
  if (s.values == Values::below_floor) {
    // Every score near -20000: kernels that start their running max at -10000 break here.
    for (std::size_t i = 0; i < op.q.size(); i += op.d_head) op.q[i] = 100;
    for (std::size_t i = 0; i < op.k.size(); i += op.d_head) op.k[i] = -200 / op.scale;
  }
  if (s.mask != MaskKind::none) {
    op.mask.assign(static_cast<std::size_t>(op.n_q) * op.n_k, 0);
    const double density = 0.2 + 0.6 * rng.uniform();
    const int width = 1 + static_cast<int>(rng.below(3));
    for (int i = 0; i < op.n_q; ++i) {
      for (int j = 0; j < op.n_k; ++j) {
        bool on = false;
        if (s.mask == MaskKind::random) on = rng.uniform() < density;
        else if (s.mask == MaskKind::band) on = std::abs(i - j) <= width;
        op.mask[static_cast<std::size_t>(i) * op.n_k + j] = on;
      }
      // Never a query without a visible key: give it one it may attend under the causal flag too.
      const int limit = op.causal ? i + 1 : op.n_k;
      bool any = false;
      for (int j = 0; j < limit; ++j) any = any || op.mask[static_cast<std::size_t>(i) * op.n_k + j];
      if (!any) op.mask[static_cast<std::size_t>(i) * op.n_k + static_cast<int>(rng.below(limit))] = 1;
    }
  }
  return op;
}

// A spec within a kernel's limits.
Spec within(Spec s, const KernelLimits& limits) {
  if (limits.dv_equals_dhead) s.d_v = s.d_head;
  if (limits.default_scale) s.scale = ScaleKind::inverse_sqrt;
  return s;
}

rc::Gen<Spec> spec_gen(const OpProperty& p, const KernelLimits& limits) {
  const bool robust = p.robust_values;
  return rc::gen::map(
      rc::gen::tuple(gen::scaled(1, 3), gen::scaled(1, 3), gen::scaled(1, 24), gen::scaled(1, 24), gen::scaled(1, 16),
                     rc::gen::element(0, 1), gen::scaled(1, 16),
                     p.force_causal ? rc::gen::just(true)
                     : p.allow_causal ? rc::gen::arbitrary<bool>()
                                      : rc::gen::just(false),
                     p.force_mask ? rc::gen::element(MaskKind::random, MaskKind::band, MaskKind::one_per_row)
                     : p.allow_mask ? rc::gen::element(MaskKind::none, MaskKind::random, MaskKind::band, MaskKind::one_per_row)
                                    : rc::gen::just(MaskKind::none),
                     rc::gen::element(ScaleKind::inverse_sqrt, ScaleKind::random, ScaleKind::tiny, ScaleKind::large),
                     robust ? rc::gen::element(Values::simple, Values::normal, Values::near_tie, Values::huge_logits,
                                               Values::below_floor, Values::tiny)
                            : rc::gen::element(Values::simple, Values::normal),
                     robust ? rc::gen::element(SizeClass::small, SizeClass::odd, SizeClass::long_keys,
                                               SizeClass::single_key)
                            : rc::gen::just(SizeClass::small),
                     rc::gen::inRange<std::uint32_t>(0, 1u << 31)),
      [square = p.needs_square, limits](const auto& t) {
        Spec s;
        std::tie(s.batch, s.heads, s.n_q, s.n_k, s.d_head, std::ignore, s.d_v, s.causal, s.mask, s.scale, s.values,
                 std::ignore, s.seed) = t;
        if (std::get<5>(t) == 0) s.d_v = s.d_head;  // d_v ≠ d_head only when drawn so
        switch (std::get<11>(t)) {
          case SizeClass::small: break;
          case SizeClass::odd:  // sizes that are not multiples of 4, 8, 16 or 64
            s.n_q = 17 + 16 * (s.n_q % 4);
            s.n_k = 33 + 32 * (s.n_k % 3);
            s.d_head = 3 + 2 * (s.d_head % 8);
            break;
          case SizeClass::long_keys:  // past any tile size
            s.batch = s.heads = 1;
            s.n_q = std::min(s.n_q, 4);
            s.n_k = s.n_k % 2 ? 1024 : 513;
            s.causal = false;
            break;
          case SizeClass::single_key:
            s.n_k = 1;
            s.causal = false;
            break;
          case SizeClass::long_square: break;
        }
        if (square || s.causal) s.n_k = s.n_q;
        return within(s, limits);
      });
}

rc::Gen<OpCase> case_gen(const OpProperty& p, const KernelLimits& limits) {
  const std::string name(p.name);
  return rc::gen::mapcat(spec_gen(p, limits), [name](const Spec& s) {
    const AttentionOp op = materialize(s);
    const int count = name == "KV-PERM" ? op.n_k : name == "Q-PERM" ? op.n_q : name == "HEADS" ? op.heads
                      : name == "BATCH" ? op.batch : 0;
    const int positions = name == "CAUSAL" ? std::max(1, op.n_k - 1) : op.n_k;
    return rc::gen::map(rc::gen::tuple(gen::permutation(count, count), rc::gen::inRange(0, positions),
                                       rc::gen::inRange<std::uint32_t>(0, 1u << 31)),
                        [op, name](const std::tuple<Permutation, int, std::uint32_t>& t) {
                          OpCase c{op, {}};
                          c.transform.permutation = std::get<0>(t);
                          c.transform.position = std::get<1>(t) + (name == "CAUSAL" ? 1 : 0);
                          c.transform.seed = std::get<2>(t);
                          return c;
                        });
  });
}

// Fixed edge cases ROBUST always runs first, like Hypothesis' @example.
std::vector<OpCase> robust_examples(const KernelLimits& limits) {
  std::vector<OpCase> out;
  const auto add = [&](Spec s) { out.push_back({materialize(within(s, limits)), {}}); };
  Spec s;
  s.values = Values::normal;
  s.n_q = 3;
  s.n_k = 1;
  add(s);  // one key
  s = Spec{};
  s.values = Values::huge_logits;
  s.n_q = 5;
  s.n_k = 7;
  s.d_head = 4;
  add(s);  // logits of order ±1e6
  s.values = Values::below_floor;
  s.scale = ScaleKind::random;
  s.seed = 3;
  add(s);  // every score near -20000
  s = Spec{};
  s.values = Values::tiny;
  s.n_q = 4;
  s.n_k = 9;
  s.d_head = 3;
  add(s);
  s = Spec{};
  s.values = Values::normal;
  s.n_q = 1024;
  s.n_k = 160;
  s.d_head = 2;
  s.d_v = 3;
  s.seed = 7;
  add(s);  // 1024 queries and 160 keys: past any tile size in both; d_v ≠ d_head
  s = Spec{};
  s.values = Values::normal;
  s.batch = 2;
  s.heads = 3;
  s.n_q = 33;
  s.n_k = 65;
  s.d_head = 17;
  s.d_v = 5;
  s.scale = ScaleKind::large;
  s.mask = MaskKind::random;
  s.seed = 11;
  add(s);  // odd sizes, a large scale, a mask
  return out;
}

// ---- Running -----------------------------------------------------------------------------------

class SilentListener : public rc::detail::TestListener {
 public:
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

OpOutcome evaluate(const OpProperty& p, Kernel& kernel, const OpCase& c, const ValidateOptions& o) {
  try {
    return p.check(kernel, c, o.tolerance, o.strict_determinism);
  } catch (const std::exception& e) {
    OpOutcome out;
    out.passed = false;
    out.message = std::string("evaluation failed: ") + e.what();
    return out;
  }
}

// Values toward simple numbers: whole arrays rounded, then single entries set to 0 or rounded, keeping
// each change that still fails. Bounded by time and by the size of the case.
OpCase simplify_values(const OpProperty& p, Kernel& kernel, OpCase c, const ValidateOptions& o,
                       Clock::time_point deadline) {
  const auto still_fails = [&](const OpCase& candidate) {
    try {
      candidate.op.validate();
    } catch (const std::invalid_argument&) {
      return false;
    }
    return !evaluate(p, kernel, candidate, o).passed;
  };
  if (c.op.q.size() + c.op.k.size() + c.op.v.size() > 4096) return c;  // large cases: exact references cost too much
  for (std::vector<float> AttentionOp::*field : {&AttentionOp::q, &AttentionOp::k, &AttentionOp::v}) {
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

std::string hex(std::uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

json transform_json(const Transform& t) {
  return {{"permutation", t.permutation}, {"position", t.position}, {"seed", t.seed}};
}

std::string sanitize(std::string name) {
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '_';
  return name;
}

}  // namespace

bool OpReport::passed() const {
  return std::all_of(verdicts.begin(), verdicts.end(), [](const OpVerdict& v) { return v.passed(); });
}

void write_case_dir(const std::string& dir, const AttentionOp& op, const std::string& extra_json) {
  std::filesystem::create_directories(dir);
  const auto shape = [&](int n, int d) {
    return std::vector<std::size_t>{static_cast<std::size_t>(op.batch), static_cast<std::size_t>(op.heads),
                                    static_cast<std::size_t>(n), static_cast<std::size_t>(d)};
  };
  write_file_atomically(dir + "/q.npy", npy_bytes(op.q, shape(op.n_q, op.d_head)));
  write_file_atomically(dir + "/k.npy", npy_bytes(op.k, shape(op.n_k, op.d_head)));
  write_file_atomically(dir + "/v.npy", npy_bytes(op.v, shape(op.n_k, op.d_v)));
  std::filesystem::remove(dir + "/mask.npy");
  if (!op.mask.empty())
    write_file_atomically(dir + "/mask.npy", npy_bytes(op.mask, {static_cast<std::size_t>(op.n_q), static_cast<std::size_t>(op.n_k)}));
  json j = json::parse(extra_json);
  j["causal"] = op.causal;
  j["scale"] = op.scale;
  write_file_atomically(dir + "/case.json", j.dump(2) + "\n");
}

OpCase read_case_dir(const std::string& dir, std::string* property) {
  const auto need4 = [](const NpyArray& a, const std::string& name) {
    if (a.dtype != NpyArray::DType::f4 || a.shape.size() != 4)
      throw std::invalid_argument(name + ": must be a float32 array [batch][heads][n][d]");
  };
  OpCase c;
  try {
    const NpyArray q = read_npy(dir + "/q.npy"), k = read_npy(dir + "/k.npy"), v = read_npy(dir + "/v.npy");
    need4(q, dir + "/q.npy");
    need4(k, dir + "/k.npy");
    need4(v, dir + "/v.npy");
    AttentionOp& op = c.op;
    op.batch = static_cast<int>(q.shape[0]);
    op.heads = static_cast<int>(q.shape[1]);
    op.n_q = static_cast<int>(q.shape[2]);
    op.d_head = static_cast<int>(q.shape[3]);
    op.n_k = static_cast<int>(k.shape[2]);
    op.d_v = static_cast<int>(v.shape[3]);
    if (k.shape[0] != q.shape[0] || k.shape[1] != q.shape[1] || k.shape[3] != q.shape[3] || v.shape[0] != q.shape[0] ||
        v.shape[1] != q.shape[1] || v.shape[2] != k.shape[2])
      throw std::invalid_argument(dir + ": q, k and v shapes do not fit together");
    op.q = q.f4;
    op.k = k.f4;
    op.v = v.f4;
    if (std::filesystem::exists(dir + "/mask.npy")) {
      const NpyArray m = read_npy(dir + "/mask.npy");
      if (m.dtype != NpyArray::DType::u1 || m.shape.size() != 2 || m.shape[0] != q.shape[2] || m.shape[1] != k.shape[2])
        throw std::invalid_argument(dir + "/mask.npy: must be a uint8 array [n_q][n_k]");
      op.mask = m.u1;
    }
  } catch (const NpyError& e) {
    throw std::invalid_argument(e.what());
  }
  json j;
  try {
    j = json::parse(read_file(dir + "/case.json"));
  } catch (const std::exception& e) {
    throw std::invalid_argument(dir + "/case.json: " + e.what());
  }
  if (!j.is_object() || !j.contains("causal") || !j["causal"].is_boolean() || !j.contains("scale") || !j["scale"].is_number())
    throw std::invalid_argument(dir + "/case.json: needs \"causal\" (true or false) and \"scale\" (a number)");
  c.op.causal = j["causal"].get<bool>();
  c.op.scale = j["scale"].get<float>();
  if (property) *property = j.value("property", "");
  if (j.contains("transform")) {
    const json& t = j["transform"];
    c.transform.permutation = t.value("permutation", std::vector<int>{});
    c.transform.position = t.value("position", 0);
    c.transform.seed = t.value("seed", std::uint64_t{0});
  }
  c.op.validate();
  return c;
}

OpReport run_op_suite(Kernel& kernel, const ValidateOptions& o) {
  const auto started = Clock::now();
  OpReport report;
  report.kernel = kernel.name();
  report.seed = o.seed;
  std::vector<const OpProperty*> selected;
  if (o.properties.empty()) {
    for (const OpProperty& p : op_catalogue()) selected.push_back(&p);
  } else {
    for (const auto& name : o.properties) selected.push_back(&find_op_property(name));
  }
  for (std::size_t index = 0; index < selected.size(); ++index) {
    const OpProperty& p = *selected[index];
    const auto property_started = Clock::now();
    OpVerdict v;
    v.property = p.name;
    // The time budget is shared out among the properties still to run.
    const double remaining = o.time_budget > 0 ? o.time_budget - std::chrono::duration<double>(Clock::now() - started).count()
                                               : 0;
    const auto deadline = o.time_budget > 0
                              ? Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                                   std::max(0.0, remaining / static_cast<double>(selected.size() - index))))
                              : Clock::time_point::max();
    double best_ratio = -1;
    std::optional<OpCase> failing;
    OpOutcome failing_outcome;
    bool warned = false;
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

    // ROBUST's fixed edge cases run first. They cannot be shrunk, so after one fails the search still
    // runs: a smaller generated failure, shrunk, is the better report.
    std::optional<OpCase> edge_failure;
    OpOutcome edge_outcome;
    if (p.robust_values)
      for (const OpCase& c : robust_examples(kernel.limits())) {
        const OpOutcome out = evaluate(p, kernel, c, o);
        tally(c, out);
        if (!out.passed) {
          edge_failure = c;
          edge_outcome = out;
          break;
        }
      }

    {
      bool failed = false, error = false;
      Clock::time_point shrink_deadline;
      const auto gen = case_gen(p, kernel.limits());
      const auto testable = [&]() {
        const OpCase c = *gen;
        const auto now = Clock::now();
        if (!failed && now > deadline) return;
        if (failed && now > shrink_deadline) return;
        const OpOutcome out = evaluate(p, kernel, c, o);
        if (!failed) tally(c, out);
        if (!out.passed) {
          if (!failed) {
            failed = true;
            error = out.message.starts_with("evaluation failed");
            shrink_deadline = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.shrink_seconds));
          } else if (error != out.message.starts_with("evaluation failed")) {
            return;  // a different kind of failure is not a smaller version of this one
          }
          failing = c;
          failing_outcome = out;
          RC_FAIL(out.message);
        }
      };
      rc::detail::TestParams params;
      params.seed = stream_seed(o.seed, std::string(p.name));
      params.maxSuccess = o.cases;
      params.maxSize = 100;
      rc::detail::TestMetadata metadata;
      metadata.id = std::string(p.name);
      SilentListener listener;
      rc::detail::checkProperty(rc::detail::toProperty(testable), metadata, params, listener, {});
      if (!failed && Clock::now() > deadline) v.message = "time budget reached after " + std::to_string(v.cases) + " cases";
    }
    if (!failing && edge_failure) {
      failing = edge_failure;
      failing_outcome = edge_outcome;
    }

    if (failing) {
      const OpCase simple = simplify_values(p, kernel, *failing, o,
                                            Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                                               std::min(o.shrink_seconds, 3.0))));
      const OpOutcome out = evaluate(p, kernel, simple, o);
      if (!out.passed) {
        failing = simple;
        failing_outcome = out;
      }
      v.status = "FAIL";
      v.worst_error = failing_outcome.error;
      v.worst_bound = failing_outcome.bound;
      v.element = failing_outcome.element;
      v.message = failing_outcome.message;
      v.shape = failing->op.shape_string();
      if (!o.failure_dir.empty()) {
        json extra = {{"property", p.name}, {"kernel", kernel.name()}, {"transform", transform_json(failing->transform)},
                      {"message", failing_outcome.message}, {"element", failing_outcome.element.text()}};
        const std::string dir = o.failure_dir + "/" + sanitize(kernel.name()) + "/" + std::string(p.name) + "-" +
                                hex(stream_seed(o.seed, extra.dump() + failing->op.shape_string()));
        try {
          write_case_dir(dir, failing->op, extra.dump());
          v.counterexample_dir = dir;
          v.replay = "symbreak validate " + kernel.cli_flags() + " --replay " + dir;
        } catch (const std::exception& e) {
          v.message += " (could not save the case: " + std::string(e.what()) + ")";
        }
      }
      if (v.replay.empty()) v.replay = "symbreak validate " + kernel.cli_flags() + " --property " + std::string(p.name) +
                                       " --seed " + std::to_string(o.seed);
    } else {
      v.status = warned ? "warning" : "pass";
    }
    v.seconds = std::chrono::duration<double>(Clock::now() - property_started).count();
    report.verdicts.push_back(v);
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

OpReport replay_op_case(Kernel& kernel, const std::string& dir, const ValidateOptions& o) {
  const auto started = Clock::now();
  std::string name;
  const OpCase c = read_case_dir(dir, &name);
  if (name.empty()) name = "REFERENCE";
  const OpProperty& p = find_op_property(name);
  OpReport report;
  report.kernel = kernel.name();
  report.seed = o.seed;
  const OpOutcome out = evaluate(p, kernel, c, o);
  OpVerdict v;
  v.property = p.name;
  v.cases = 1;
  v.status = out.passed ? (out.warning ? "warning" : "pass") : "FAIL";
  v.worst_error = out.error;
  v.worst_bound = out.bound;
  v.element = out.element;
  v.message = out.message;
  v.shape = c.op.shape_string();
  v.counterexample_dir = dir;
  v.replay = "symbreak validate " + kernel.cli_flags() + " --replay " + dir;
  v.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  report.verdicts.push_back(v);
  report.seconds = v.seconds;
  return report;
}

}  // namespace symbreak::props::ops
