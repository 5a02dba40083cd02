// symbreak validate: is a third-party attention kernel correct? If not, the smallest input that shows it.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "symbreak/io.hpp"
#include "symbreak/text.hpp"
#include "symbreak/validate/validate.hpp"

namespace symbreak::cli {
namespace {

// The tolerance rule in words, for the report's header (the dtype sets the ulp and the reference).
std::string tolerance_text(const validate::Tolerance& t, validate::Dtype dtype) {
  const bool narrow = dtype != validate::Dtype::f32;
  const std::string ulp = dtype == validate::Dtype::f16 ? "2^-11" : dtype == validate::Dtype::bf16 ? "2^-8" : "2^-24";
  return "tolerance: |X − exact| ≤ " + text::shortest(t.c) + "·err_ref + " + text::shortest(t.atol_ulps) + "·" + ulp +
         "·max(1, max|exact|, the size of the element's summed terms) per element; err_ref = " +
         (narrow ? "the error of symbreak's same-dtype (" + std::string(to_string(dtype)) +
                       ") reference: inputs and outputs in the dtype, float32 accumulation"
                 : std::string("the worst correct float32 kernel's error")) +
         " per tensor (invariances: both inputs)";
}


struct ValidateFlags {
  std::string plugin, exec, builtin, replay;
  std::vector<std::string> properties;
  int cases = 40;
  std::uint64_t seed = 1;
  double time_budget = 0, timeout = 10, shrink_cap = 20;
  std::string json_path, junit_path, html_path;
  std::string failure_dir = ".symbreak/validate";
  std::vector<std::string> supports;
  std::vector<std::string> compare;
  std::string seeds;
  bool strict_determinism = false, list_builtins = false, forward_only = false, fail_fast = false;
  double tolerance_c = 2, atol_ulps = 4;
};

// A one-line progress bar on a terminal; nothing when stderr is a pipe or a file.
std::function<void(const std::string&, int, int)> progress_bar() {
  if (!::isatty(2)) return {};
  return [](const std::string& property, int done, int total) {
    const int width = 24, filled = total > 0 ? std::min(width, done * width / total) : width;
    std::cerr << "\r  " << property << std::string(std::max<std::size_t>(0, 12 - property.size()), ' ') << " ["
              << std::string(filled, '#') << std::string(width - filled, '-') << "] " << done << "/" << total << "   "
              << std::flush;
  };
}

// One side of --compare: plugin:LIB.so, exec:CMD or builtin:NAME.
std::unique_ptr<validate::Kernel> kernel_from_spec(const std::string& spec, double timeout) {
  const auto colon = spec.find(':');
  const std::string kind = colon == std::string::npos ? "" : spec.substr(0, colon), what = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (what.empty() || (kind != "plugin" && kind != "exec" && kind != "builtin"))
    throw std::invalid_argument("--compare: \"" + spec + "\" is not a kernel (write plugin:LIB.so, exec:\"CMD\" or builtin:NAME)");
  try {
    if (kind == "plugin") return validate::plugin_kernel(what, timeout);
    if (kind == "exec") return validate::exec_kernel(what, timeout);
    return validate::builtin_kernel(what, timeout);
  } catch (const validate::KernelLoadError& e) {
    throw std::invalid_argument("--compare " + spec + ": " + e.what());
  }
}

}  // namespace

Action register_validate(CLI::App& app) {
  auto f = std::make_shared<ValidateFlags>();
  CLI::App* cmd = app.add_subcommand("validate", "Validate an attention kernel: a C ABI plugin, an exec command, or a built-in");
  auto* plugin =
      cmd->add_option("--plugin", f->plugin, "A shared library implementing validate/include/symbreak/attention_abi.h");
  auto* exec = cmd->add_option("--exec", f->exec, "A command speaking the exec protocol (validate/README.md)");
  auto* builtin = cmd->add_option("--builtin", f->builtin, "A built-in kernel: naive, tiled, tiled:BQ:BK, torch-mha, torch-sdpa");
  auto* compare = cmd->add_option("--compare", f->compare,
                                  "Run one spec against two kernels (each plugin:LIB.so, exec:\"CMD\" or builtin:NAME) and "
                                  "name the first case where they disagree beyond their bounds")
                      ->expected(2);
  plugin->excludes(exec)->excludes(builtin)->excludes(compare);
  exec->excludes(builtin)->excludes(compare);
  builtin->excludes(compare);
  cmd->add_flag("--list-builtins", f->list_builtins, "List the built-in kernels of this build");
  cmd->add_option("--property", f->properties, "Properties to run (default: all)")->delimiter(',');
  cmd->add_option("--cases", f->cases, "Generated cases per property")->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", f->seed, "Seed");
  cmd->add_option("--time-budget", f->time_budget, "Seconds for the whole suite (0: no limit)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--timeout", f->timeout, "Seconds one kernel call may take")->check(CLI::PositiveNumber);
  cmd->add_option("--shrink-cap", f->shrink_cap, "Seconds of shrinking per failure")->check(CLI::NonNegativeNumber);
  cmd->add_option("--replay", f->replay, "Re-run one saved case directory")->check(CLI::ExistingDirectory);
  cmd->add_option("--failures", f->failure_dir, "Where counterexamples are saved");
  cmd->add_option("--json", f->json_path, "Write the report as JSON");
  cmd->add_option("--junit", f->junit_path, "Write JUnit XML");
  cmd->add_option("--html", f->html_path, "Write a self-contained HTML report");
  cmd->add_option("--supports", f->supports,
                  "Override what the kernel declares it supports: none,causal,explicit (mask modes), square|cross, "
                  "scale=default|scale=any, dv=dhead|dv=any, backward|no-backward, deterministic, masked-finite, max-n=N, max-d=N, "
                  "max-batch=N, max-heads=N; version 2: causal=top-left|causal=bottom-right, gqa, window, padding, "
                  "mask=per-head, empty-rows=zero|empty-rows=nan, softcap, bias, alibi, layout=bnhd|layout=bhnd, dtype=f32|dtype=f16|dtype=bf16")
      ->delimiter(',');
  cmd->add_option("--seeds", f->seeds,
                  "Run the suite on every seed of A-B (or 1-N for N) and summarise (kill rates, flaky kernels)");
  cmd->add_flag("--fail-fast", f->fail_fast, "Stop each run at the first failing property");
  cmd->add_flag("--forward-only", f->forward_only, "Skip the backward properties even when the kernel has a backward pass");
  cmd->add_flag("--strict-determinism", f->strict_determinism, "Bitwise nondeterminism fails instead of warning");
  cmd->add_option("--tolerance-c", f->tolerance_c, "c in c·max|naive - exact| + atol")->check(CLI::PositiveNumber);
  cmd->add_option("--atol-ulps", f->atol_ulps, "atol in units of the dtype's unit roundoff (2^-24 f32, 2^-11 f16, 2^-8 bf16)·max|exact|")->check(CLI::NonNegativeNumber);

  return [f]() {
    if (f->list_builtins) {
      for (const auto& name : validate::builtin_kernel_names()) std::cout << name << '\n';
      return 0;
    }
    if (f->plugin.empty() && f->exec.empty() && f->builtin.empty() && f->compare.empty())
      throw std::invalid_argument("validate: give one of --plugin LIB.so, --exec \"CMD\", --builtin NAME or --compare A B");
    if (!f->compare.empty() && (!f->replay.empty() || !f->seeds.empty() || !f->supports.empty() || !f->junit_path.empty() ||
                                !f->html_path.empty() || !f->json_path.empty()))
      throw std::invalid_argument(
          "--compare runs one seed on two kernels as declared: --replay, --seeds, --supports, --json, --junit and --html "
          "do not apply (replay the saved case on each kernel with the lines it prints)");
    check_writable(f->json_path, "--json");
    check_writable(f->junit_path, "--junit");
    check_writable(f->html_path, "--html");
    validate::ValidateOptions options;
    options.properties = f->properties;
    for (const auto& name : f->properties) validate::find_op_property(name);
    options.cases = f->cases;
    options.seed = f->seed;
    options.time_budget = f->time_budget;
    options.shrink_seconds = f->shrink_cap;
    options.tolerance = {f->tolerance_c, f->atol_ulps};
    options.strict_determinism = f->strict_determinism;
    options.forward_only = f->forward_only;
    options.fail_fast = f->fail_fast;
    const auto [first_seed, last_seed] = f->seeds.empty() ? std::pair{f->seed, f->seed} : validate::parse_seed_range(f->seeds);
    options.failure_dir = f->failure_dir;
    options.progress = progress_bar();

    if (!f->compare.empty()) {
      auto a = kernel_from_spec(f->compare[0], f->timeout), b = kernel_from_spec(f->compare[1], f->timeout);
      std::cout << "symbreak validate --compare: one spec, two kernels; they must agree within the sum of their "
                   "per-element bounds against the exact reference (c·err_ref + atol each)\n";
      const validate::CompareReport report = validate::compare_kernels(*a, *b, options);
      if (options.progress) std::cerr << "\r" << std::string(60, ' ') << "\r";
      validate::print_compare(std::cout, report);
      return report.agreed() ? 0 : 1;
    }
    std::unique_ptr<validate::Kernel> kernel;
    try {
      if (!f->plugin.empty()) kernel = validate::plugin_kernel(f->plugin, f->timeout);
      else if (!f->exec.empty()) kernel = validate::exec_kernel(f->exec, f->timeout);
      else kernel = validate::builtin_kernel(f->builtin, f->timeout);
    } catch (const validate::KernelLoadError& e) {
      throw std::invalid_argument(e.what());
    }
    if (!f->supports.empty()) {
      validate::Capabilities caps = kernel->declared();
      std::vector<std::string> words;  // "--supports 'gqa dtype=bf16'" and "--supports gqa,dtype=bf16" alike
      for (const std::string& arg : f->supports)
        for (std::string& w : validate::split_words(arg)) words.push_back(std::move(w));
      caps.apply(words, "--supports");
      kernel->override_capabilities(caps);
    }
    std::cout << "symbreak validate: " << kernel->name() << " against O = softmax(scale·QKᵀ + mask)·V"
              << (kernel->capabilities().backward && !options.forward_only ? " and its gradients" : "") << "\n"
              << tolerance_text(options.tolerance, kernel->capabilities().dtype) << "\n";
    const auto write_reports = [&](const validate::OpReport& report) {
      if (!f->json_path.empty()) write_file_atomically(f->json_path, validate::report_json(report));
      if (!f->junit_path.empty()) write_file_atomically(f->junit_path, validate::report_junit(report));
      if (!f->html_path.empty()) write_file_atomically(f->html_path, validate::report_html(report));
    };
    const auto clear_progress = [&] {
      if (options.progress) std::cerr << "\r" << std::string(60, ' ') << "\r";
    };
    if (!f->replay.empty() || first_seed == last_seed) {
      const validate::OpReport report =
          f->replay.empty() ? validate::run_suite(*kernel, options) : validate::replay_case(*kernel, f->replay, options);
      clear_progress();
      validate::print_report(std::cout, report);
      write_reports(report);
      return report.passed() ? 0 : 1;
    }
    // Several seeds: one line per seed, then the summary; --json/--junit/--html get the first failing
    // seed's report (the last seed's when all pass).
    const validate::SeedsReport seeds =
        validate::run_seeds(*kernel, options, first_seed, last_seed, [&](const validate::SeedRun& run) {
          clear_progress();
          std::string failing;
          for (const auto& p : run.failing) failing += (failing.empty() ? "" : ", ") + p;
          std::printf("seed %-6llu %-7s %5.1f s  %s\n", static_cast<unsigned long long>(run.seed), run.passed ? "pass" : "FAIL",
                      run.seconds, failing.c_str());
          std::fflush(stdout);
        });
    validate::print_seeds_summary(std::cout, kernel->name(), seeds);
    write_reports(seeds.shown());
    return seeds.seeds_passed() == static_cast<int>(seeds.runs.size()) ? 0 : 1;
  };
}

}  // namespace symbreak::cli
