// symbreak validate: is a third-party attention kernel correct? If not, the smallest input that shows it.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "symbreak/io.hpp"
#include "symbreak/validate.hpp"

namespace symbreak::cli {
namespace {

struct ValidateFlags {
  std::string plugin, exec, builtin, replay;
  std::vector<std::string> properties;
  int cases = 40;
  std::uint64_t seed = 1;
  double time_budget = 0, timeout = 10, shrink_cap = 20;
  std::string json_path, junit_path, html_path;
  std::string failure_dir = ".symbreak/validate";
  bool strict_determinism = false, list_builtins = false;
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

}  // namespace

Action register_validate(CLI::App& app) {
  auto f = std::make_shared<ValidateFlags>();
  CLI::App* cmd = app.add_subcommand("validate", "Validate an attention kernel: a C ABI plugin, an exec command, or a built-in");
  auto* plugin = cmd->add_option("--plugin", f->plugin, "A shared library implementing src/include/symbreak/attention_abi.h");
  auto* exec = cmd->add_option("--exec", f->exec, "A command speaking the exec protocol (src/validate/README.md)");
  auto* builtin = cmd->add_option("--builtin", f->builtin, "A built-in kernel: naive, tiled, tiled:BQ:BK, torch-mha, torch-sdpa");
  plugin->excludes(exec)->excludes(builtin);
  exec->excludes(builtin);
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
  cmd->add_flag("--strict-determinism", f->strict_determinism, "Bitwise nondeterminism fails instead of warning");
  cmd->add_option("--tolerance-c", f->tolerance_c, "c in c·max|naive - exact| + atol")->check(CLI::PositiveNumber);
  cmd->add_option("--atol-ulps", f->atol_ulps, "atol in units of 2^-24·max|exact|")->check(CLI::NonNegativeNumber);

  return [f]() {
    if (f->list_builtins) {
      for (const auto& name : builtin_kernel_names()) std::cout << name << '\n';
      return 0;
    }
    if (f->plugin.empty() && f->exec.empty() && f->builtin.empty())
      throw std::invalid_argument("validate: give one of --plugin LIB.so, --exec \"CMD\" or --builtin NAME");
    check_writable(f->json_path, "--json");
    check_writable(f->junit_path, "--junit");
    check_writable(f->html_path, "--html");
    ValidateOptions options;
    options.properties = f->properties;
    for (const auto& name : f->properties) props::ops::find_op_property(name);
    options.cases = f->cases;
    options.seed = f->seed;
    options.time_budget = f->time_budget;
    options.shrink_seconds = f->shrink_cap;
    options.tolerance = {f->tolerance_c, f->atol_ulps};
    options.strict_determinism = f->strict_determinism;
    options.failure_dir = f->failure_dir;
    options.progress = progress_bar();

    std::unique_ptr<Kernel> kernel;
    try {
      if (!f->plugin.empty()) kernel = plugin_kernel(f->plugin, f->timeout);
      else if (!f->exec.empty()) kernel = exec_kernel(f->exec, f->timeout);
      else kernel = builtin_kernel(f->builtin, f->timeout);
    } catch (const KernelLoadError& e) {
      throw std::invalid_argument(e.what());
    }
    std::cout << "symbreak validate: " << kernel->name() << " against O = softmax(scale·QKᵀ + mask)·V\n"
              << "tolerance: max|O − exact| ≤ " << options.tolerance.c << "·max|naive32 − exact| + "
              << options.tolerance.atol_ulps << "·2^-24·max|exact| (invariances: the same, on both inputs)\n\n";
    const OpReport report = f->replay.empty() ? props::ops::run_op_suite(*kernel, options)
                                              : props::ops::replay_op_case(*kernel, f->replay, options);
    if (options.progress) std::cerr << "\r" << std::string(60, ' ') << "\r";
    props::ops::print_op_report(std::cout, report);
    if (!f->json_path.empty()) write_file_atomically(f->json_path, props::ops::op_report_json(report));
    if (!f->junit_path.empty()) write_file_atomically(f->junit_path, props::ops::op_report_junit(report));
    if (!f->html_path.empty()) write_file_atomically(f->html_path, props::ops::op_report_html(report));
    return report.passed() ? 0 : 1;
  };
}

}  // namespace symbreak::cli
