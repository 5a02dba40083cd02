// Sweeps: a plan (configs × seeds × a step budget, and the analyses to run on each finished model)
// executed as separate `symbreak train` / `symbreak analyze` processes, with every run recorded in an
// embedded SQLite ledger. Resumable: a finished run is never recomputed, a killed run resumes from its
// checkpoint (bit-identically), and nothing written is lost. With Open MPI, rank 0 owns the ledger and
// hands runs to every rank's job slots.
//
// The plan (plan.hpp), the ledger (ledger.hpp) and the results (results.hpp) have headers of their own.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "symbreak/experiments/ledger.hpp"
#include "symbreak/experiments/plan.hpp"
#include "symbreak/experiments/results.hpp"

namespace symbreak::experiments {

// What a finished run reports (read from its final.json and metrics.csv): final and best test exact
// match, the first evaluation step at or above the threshold, per-digit accuracy, loss, wall time.
nlohmann::json run_result(const std::string& run_dir, double converged_threshold);

struct SweepOptions {
  std::string plan_path, out_dir;
  int jobs = 1;
  std::optional<int> threads;  // per job; default: the cores on this host / (jobs × ranks on this host)
  std::string worker;          // the symbreak executable that runs `train` and `analyze`
  bool quiet = false;
};

// One MPI job (MPI_Init in the constructor, MPI_Finalize in the destructor), shared by every sweep the
// process runs. Only in builds with SYMBREAK_WITH_MPI; elsewhere the constructor throws ConfigError.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  int ranks_on_host() const { return local_; }
  static bool available();           // built with Open MPI
  static bool launched_by_mpirun();  // started by mpirun with more than one rank

 private:
  int rank_ = 0, ranks_ = 1, local_ = 1;
};

// Runs (or resumes) a sweep to completion, `jobs` processes at a time on this machine, or, with an MPI
// session, on every rank (rank 0 owns the ledger and the schedule; run directories must be on a
// filesystem every rank sees). Then writes DIR/results.json, DIR/results.md and the summary figures.
// Returns 0 when every run finished, 1 when some failed (on every rank). Throws ConfigError for a bad
// plan or a DIR that another sweep holds.
int run_sweep(const SweepOptions& options, MpiSession* mpi = nullptr);

// --status: progress and the results table with Wilson 95 % intervals, read from the ledger.
std::string sweep_status(const std::string& plan_path, const std::string& out_dir);

}  // namespace symbreak::experiments
