// symbreak sweep: run (or resume) a plan of trainings and analyses, or print its status.
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "symbreak/experiments/sweep.hpp"

namespace symbreak::cli {
namespace {

// This executable's path: the sweep runs `train` and `analyze` through it.
std::string self_path() {
  char b[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", b, sizeof b - 1);
  if (n <= 0) throw std::runtime_error("sweep: cannot find this executable (/proc/self/exe)");
  return std::string(b, static_cast<std::size_t>(n));
}

}  // namespace

Action register_sweep(CLI::App& app, int* argc, char*** argv) {
  struct Flags {
    std::string plan, out;
    int jobs = 1;
    std::optional<int> threads;
    bool status = false, quiet = false, markdown = false, tables = false, results = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Run or resume a plan of trainings (configs x seeds) with an SQLite ledger; mpirun spreads it over ranks");
  cmd->add_option("--plan", f->plan, "A plan (experiments/plans/*.json)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", f->out, "The sweep directory (ledger.sqlite, runs/, results.json, figures)")->required();
  cmd->add_option("--jobs", f->jobs, "Runs at a time (per MPI rank)")->check(CLI::Range(1, 256));
  cmd->add_option("--threads", f->threads, "Threads per run (default: this host's cores / (jobs x ranks on the host))")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--status", f->status, "Print progress and the results table (Wilson 95 % intervals) from the ledger, and exit");
  cmd->add_flag("--markdown", f->markdown,
                "Print results.md as the ledger gives it now (the tables the READMEs quote), and exit")
      ->excludes("--status");
  cmd->add_flag("--rewrite-tables", f->tables,
                "Rewrite results.json and results.md from the ledger (after a rule's code changed), and exit")
      ->excludes("--status")
      ->excludes("--markdown");
  cmd->add_flag("--rewrite-results", f->results,
                "Rewrite results.json, results.md and the figures from the ledger and the runs (after the figures' code "
                "changed), and exit")
      ->excludes("--status")
      ->excludes("--markdown")
      ->excludes("--rewrite-tables");
  cmd->add_flag("--quiet", f->quiet, "No progress output");
  return [f, argc, argv]() {
    if (f->status) {
      std::cout << experiments::sweep_status(f->plan, f->out);
      return 0;
    }
    if (f->tables) {
      experiments::write_sweep_tables(experiments::load_plan(f->plan), f->out);
      std::cout << "rewrote " << f->out << "/results.json and results.md from the ledger\n";
      return 0;
    }
    if (f->results) {
      experiments::write_sweep_results(experiments::load_plan(f->plan), f->out);
      std::cout << "rewrote " << f->out << "/results.json, results.md and the figures from the ledger\n";
      return 0;
    }
    if (f->markdown) {
      std::cout << experiments::sweep_markdown(experiments::load_plan(f->plan), f->out);
      return 0;
    }
    experiments::SweepOptions o;
    o.plan_path = f->plan;
    o.out_dir = f->out;
    o.jobs = f->jobs;
    o.threads = f->threads;
    o.worker = self_path();
    o.quiet = f->quiet;
    if (!experiments::MpiSession::launched_by_mpirun()) return experiments::run_sweep(o);
    experiments::MpiSession mpi(argc, argv);
    return experiments::run_sweep(o, &mpi);
  };
}

}  // namespace symbreak::cli
