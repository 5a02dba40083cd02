// symbreak reproduce: every paper claim into a verdict, in one self-contained HTML report.
#include <unistd.h>

#include <climits>
#include <iostream>

#include "commands.hpp"
#include "symbreak/reproduce/reproduce.hpp"

namespace symbreak::cli {

Action register_reproduce(CLI::App& app, int* argc, char*** argv) {
  struct Flags {
    bool quick = false, full = false, resume = false, yes = false, verify = false;
    std::string out, plans, claims, sweeps;
    int jobs = 2, exact_cases = 0;
    std::optional<int> threads;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "reproduce", "Run the checks and experiments behind every claim of both papers; write report.html and claims.json");
  auto* quick = cmd->add_flag("--quick", f->quick, "Small models and few seeds: minutes (the README's main job)");
  cmd->add_flag("--full", f->full, "The paper's 6x384 model with >= 10 seeds per ablation: days on 2 cores; resumable, MPI-aware")
      ->excludes(quick);
  cmd->add_flag("--verify", f->verify,
                "Decide every claim from the committed default-scale sweeps (experiments/results/sweeps) instead of running "
                "sweeps; check their tables against their ledgers and retrain one run per condition to its first "
                "evaluation on this machine (the README's main job)")
      ->excludes(quick);
  cmd->add_option("--sweeps", f->sweeps,
                  "--verify: the directory of committed sweeps, one per plan file name (default experiments/results/sweeps)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", f->out, "Output directory (report.html, claims.json, exact/, sweeps/); default reproduce-<scale>");
  cmd->add_option("--jobs", f->jobs, "Trainings at a time (per MPI rank)")->check(CLI::Range(1, 256));
  cmd->add_option("--threads", f->threads, "Threads per training (default: cores / jobs)")->check(CLI::Range(1, 256));
  cmd->add_flag("--resume", f->resume, "Reuse the finished runs in --out (without it, --out must be new or empty)");
  cmd->add_option("--plans", f->plans, "Directory of plan files (default: experiments/plans, with quick/ and full/)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--claims", f->claims, "The claims to decide (default: experiments/claims.json)")->check(CLI::ExistingFile);
  cmd->add_option("--exact-cases", f->exact_cases, "Random models per exact property (default by scale: 40, 100, 200)")
      ->check(CLI::Range(1, 100000));
  return [f, argc, argv]() {
    experiments::ReproduceOptions o;
    o.scale = f->quick ? "quick" : f->full ? "full" : "standard";
    o.verify = f->verify;
    if (f->verify && f->full) throw std::invalid_argument("--verify checks the default-scale sweeps; it does not go with --full");
    o.out_dir = f->out.empty() ? (f->verify ? "reproduce-verify" : "reproduce-" + o.scale) : f->out;
    if (!f->sweeps.empty() && !f->verify) throw std::invalid_argument("--sweeps goes with --verify");
    if (f->verify) o.committed_sweeps = f->sweeps.empty() ? experiments::committed_sweeps_dir() : f->sweeps;
    o.plans_dir = f->plans;
    o.claims_file = f->claims;
    o.jobs = f->jobs;
    o.threads = f->threads;
    o.resume = f->resume;
    o.exact_cases = f->exact_cases;
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) throw std::runtime_error("reproduce: cannot find this executable (/proc/self/exe)");
    o.worker.assign(exe, static_cast<std::size_t>(n));
    for (int i = 0; i < *argc; ++i) o.command_line += (i ? " " : "") + std::string((*argv)[i]);
    std::unique_ptr<experiments::MpiSession> mpi;
    if (experiments::MpiSession::launched_by_mpirun()) mpi = std::make_unique<experiments::MpiSession>(argc, argv);
    o.mpi = mpi.get();
    const bool root = !mpi || mpi->rank() == 0;
    if (root) std::cout << experiments::reproduce_preview(o) << "\n" << std::flush;
    const auto r = experiments::reproduce(o, [root](const std::string& line) {
      if (root) std::cout << line << "\n" << std::flush;
    });
    if (!root) return 0;
    std::cout << "\nclaim  verdict          measurement\n";
    for (const auto& c : r.claims) {
      std::string m = c.measurement.size() > 150 ? c.measurement.substr(0, 147) + "..." : c.measurement;
      std::printf("%-6s %-16s %s\n", c.id.c_str(), experiments::to_string(c.verdict).c_str(), m.c_str());
    }
    int failed = 0;
    if (f->verify) {
      std::cout << "\nverification on this machine\n";
      for (const auto& v : r.verification) {
        std::printf("  %-18s %-16s %s: %s\n", v.sweep.c_str(), v.ok ? v.status.c_str() : ("FAIL " + v.status).c_str(),
                    v.what.c_str(), v.detail.c_str());
        failed += !v.ok;
      }
      std::printf("%zu of %zu checks pass\n", r.verification.size() - static_cast<std::size_t>(failed), r.verification.size());
    }
    std::printf("\nwrote %s and %s (%.0f s)\n", r.report.c_str(), r.claims_json.c_str(), r.wall_seconds);
    return failed ? 1 : 0;
  };
}

}  // namespace symbreak::cli
