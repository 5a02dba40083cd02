// End-to-end: symbreak sweep (a kill -9 in the middle, resumed; Open MPI) and symbreak analyze.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli_runner.hpp"

extern char** environ;

namespace symbreak::test {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string fresh(const std::string& name) {
  const std::string dir = scratch(name);
  fs::remove_all(dir);
  return dir;
}

// A plan of four short runs on a small causal model: two conditions × two seeds, analysed.
std::string quick_plan(const std::string& name, int steps = 400) {
  write_file(name + "-base.json", R"({
    "model": {"d_model": 32, "heads": 2, "layers": 2, "positional_encoding": "learned", "mask": "causal"},
    "task": {"test_size": 200},
    "train": {"batch": 32, "eval_every": 100, "checkpoint_every": 20, "threads": 1},
    "optimizer": {"name": "adamw", "lr": 0.002, "betas": [0.9, 0.98]},
    "schedule": {"name": "cosine", "warmup_steps": 20, "min_lr_ratio": 0.1}})");
  return write_file(name + ".json", R"({
    "name": ")" + name + R"(",
    "description": "end-to-end test plan",
    "base_config": ")" + name + R"(-base.json",
    "steps": )" + std::to_string(steps) +
                                        R"(,
    "seeds": [1, 2],
    "conditions": [{"name": "intact"},
                   {"name": "all-off", "config": {"model": {"residual_attention": false, "residual_mlp": false}}}],
    "analysis": {"prompts": 100, "at_init": true},
    "decision": {"C5": {"rule": "convergence_drop", "reference": "intact", "statement": "test"}}})");
}

struct LedgerRows {
  std::map<std::string, std::string> status;
  std::map<std::string, std::vector<int>> resumed_from;  // per run, per attempt
  std::set<int> ranks;
};

LedgerRows read_ledger(const std::string& db_path) {
  LedgerRows rows;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT run_id, status FROM runs", -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW)
    rows.status[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] =
        reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  sqlite3_finalize(s);
  sqlite3_prepare_v2(db, "SELECT run_id, resumed_from, rank FROM attempts ORDER BY run_id, attempt", -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) {
    rows.resumed_from[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))].push_back(sqlite3_column_int(s, 1));
    rows.ranks.insert(sqlite3_column_int(s, 2));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return rows;
}

// A run that has written a checkpoint (so a restart resumes it instead of starting over).
bool checkpoint_past_zero(const std::string& run_dir) {
  return fs::exists(run_dir + "/checkpoint.bin") && fs::exists(run_dir + "/metrics.csv");
}

pid_t start_sweep(const std::string& plan, const std::string& out, const std::string& log) {
  const std::string cli = SYMBREAK_CLI;
  std::vector<std::string> args = {cli, "sweep", "--plan", plan, "--out", out, "--jobs", "2", "--threads", "1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, cli.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

TEST(CliSweep, KillNineMidSweepThenResumeCompletesTheLedgerWithoutRerunningAnything) {
  const std::string plan = quick_plan("sweep_kill"), killed = fresh("sweep_killed"), whole = fresh("sweep_whole");
  // The reference: the same sweep, uninterrupted.
  const CliResult ref = run_cli("sweep --plan " + plan + " --out " + whole + " --jobs 2 --threads 1");
  ASSERT_EQ(ref.exit_code, 0) << ref.output;

  const pid_t pid = start_sweep(plan, killed, scratch("sweep_killed.log"));
  // While it runs, the directory is held: a second sweep refuses instead of sharing it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(killed + "/ledger.sqlite") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  expect_bad_input("sweep --plan " + plan + " --out " + killed, "another symbreak sweep is running");
  // Kill once one run has finished and every running one has a checkpoint.
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const LedgerRows rows = read_ledger(killed + "/ledger.sqlite");
    int done = 0, running = 0, running_with_progress = 0;
    for (const auto& [id, status] : rows.status) {
      done += status == "done";
      running += status == "running";
      if (status == "running" && checkpoint_past_zero(killed + "/runs/" + id)) ++running_with_progress;
    }
    ready = done >= 1 && running >= 1 && running_with_progress == running;
  }
  ASSERT_TRUE(ready) << "the sweep never reached the state to interrupt";
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // its children die with it (PR_SET_PDEATHSIG)
  const LedgerRows before = read_ledger(killed + "/ledger.sqlite");
  std::set<std::string> finished_before, checkpointed;
  for (const auto& [id, s] : before.status) {
    if (s == "done") finished_before.insert(id);
    if (s == "running" && checkpoint_past_zero(killed + "/runs/" + id)) checkpointed.insert(id);
  }
  EXPECT_FALSE(checkpointed.empty()) << "no interrupted run had a checkpoint: the test interrupted nothing";

  const CliResult resumed = run_cli("sweep --plan " + plan + " --out " + killed + " --jobs 2 --threads 1");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const LedgerRows after = read_ledger(killed + "/ledger.sqlite");
  ASSERT_EQ(after.status.size(), 4u);
  for (const auto& [id, s] : after.status) {
    EXPECT_EQ(s, "done") << id;
    const std::vector<int>& attempts = after.resumed_from.at(id);
    // A run finished before the kill never ran again; every later attempt resumed from a checkpoint.
    if (finished_before.count(id)) {
      EXPECT_EQ(attempts.size(), 1u) << id;
    }
    EXPECT_EQ(attempts.front(), 0) << id;
    // A run interrupted after its first checkpoint resumed from it instead of starting over.
    if (checkpointed.count(id)) {
      ASSERT_EQ(attempts.size(), 2u) << id;
      EXPECT_GT(attempts[1], 0) << id << " started from scratch although it had a checkpoint";
    }
    // Nothing lost or repeated: every evaluation step appears once, and the weights are bit-identical
    // to the uninterrupted sweep's.
    const std::string csv = slurp(killed + "/runs/" + id + "/metrics.csv");
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5) << id;  // header + steps 100..400
    EXPECT_EQ(slurp(killed + "/runs/" + id + "/weights.bin"), slurp(whole + "/runs/" + id + "/weights.bin")) << id;
    EXPECT_TRUE(fs::exists(killed + "/runs/" + id + "/analysis/analysis.json")) << id;
    EXPECT_TRUE(fs::exists(killed + "/runs/" + id + "/analysis-init/analysis.json")) << id;
  }
  // The ledger's result tables and the figures.
  const nlohmann::json results = nlohmann::json::parse(slurp(killed + "/results.json"));
  EXPECT_EQ(results["runs"].size(), 4u);
  EXPECT_EQ(results["verdicts"][0]["id"], "C5");
  for (const char* f : {"results.md", "convergence.png", "convergence.svg", "curves.png", "pearson.png", "pearson-init.svg"})
    EXPECT_TRUE(fs::exists(killed + "/" + f)) << f;
  // A third invocation has nothing to do.
  const CliResult again = run_cli("sweep --plan " + plan + " --out " + killed + " --jobs 2");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("0 runs to go"));
  const CliResult st = run_cli("sweep --plan " + plan + " --out " + killed + " --status");
  ASSERT_EQ(st.exit_code, 0) << st.output;
  EXPECT_THAT(st.output, HasSubstr("4/4 done"));
  EXPECT_THAT(st.output, HasSubstr("Wilson 95 %"));
  // The plan's rules, applied to the finished ledger, as in results.json.
  EXPECT_THAT(st.output, HasSubstr("verdicts by the plan's decision rules:"));
  EXPECT_THAT(st.output, HasSubstr("C5  " + results["verdicts"][0]["verdict"].get<std::string>()));
}

TEST(CliSweep, BadPlansAreRejectedWithTheField) {
  const std::string base = R"({"model": {"d_model": 16, "heads": 2, "layers": 1, "mask": "causal"}})";
  write_file("sweep_bad_base.json", base);
  const auto plan = [](const std::string& body) {
    return write_file("sweep_bad.json",
                      R"({"name": "bad", "base_config": "sweep_bad_base.json", "steps": 10, "seeds": [1], )" + body + "}");
  };
  expect_bad_input(
      "sweep --plan " + plan(R"("conditions": [{"name": "x", "config": {"model": {"heads": 3}}}])") + " --out " + scratch("sb"),
      "condition \"x\"");
  expect_bad_input("sweep --plan " + plan(R"("conditions": [{"name": "x"}], "seeds_if_mixed": [1])") + " --out " + scratch("sb"),
                   "seeds_if_mixed");
  expect_bad_input("sweep --plan " + plan(R"("conditions": [{"name": "x"}, {"name": "x"}])") + " --out " + scratch("sb"),
                   "used twice");
  expect_bad_input("sweep --plan " + plan(R"("conditions": [{"name": "x", "bogus": 1}])") + " --out " + scratch("sb"), "bogus");
  expect_bad_input("sweep --plan " + plan(R"("conditions": [{"name": "x"}], "decision": {"C": {"rule": "nope"}})") + " --out " +
                       fresh("sb_rule"),
                   "\"decision.C.rule\" \"nope\" is not a known rule");
  expect_bad_input("sweep --plan " +
                       plan(R"("conditions": [{"name": "x"}], "decision": {"C": {"rule": "learns", "conditions": ["y"]}})") +
                       " --out " + fresh("sb_rule"),
                   "names the condition \"y\"");
  // Rule parameters are read strictly: a misspelt one would otherwise fall back to its default.
  expect_bad_input("sweep --plan " +
                       plan(R"("conditions": [{"name": "x"}], "decision": {"C": {"rule": "learns", "conditions": ["x"], "min_rat": 0.9}})") +
                       " --out " + fresh("sb_rule"),
                   "\"decision.C.min_rat\" is not a parameter of the rule learns (allowed: rule, statement, holds_if, min_seeds, conditions, min_rate)");
  expect_bad_input("sweep --plan " +
                       plan(R"("conditions": [{"name": "x"}], "decision": {"C": {"rule": "learns", "conditions": ["x"], "min_seeds": 2.5}})") +
                       " --out " + fresh("sb_rule"),
                   "\"decision.C.min_seeds\" must be a whole number of seeds, at least 1");
  expect_bad_input("sweep --plan " +
                       plan(R"("conditions": [{"name": "x"}], "decision": {"C": {"rule": "learns", "conditions": ["x"], "min_rate": "high"}})") +
                       " --out " + fresh("sb_rule"),
                   "\"decision.C.min_rate\" must be a number");
  expect_bad_input("sweep --plan " +
                       plan(R"("conditions": [{"name": "x"}], "decision": {"C": {"rule": "gap_narrows", "comparisons": [{"name": "a", "optimiser_with": "x"}]}})") +
                       " --out " + fresh("sb_rule"),
                   "\"decision.C.comparisons.optimiser_with\" is not a key of a comparison");
  expect_bad_input("sweep --plan " + plan(R"("conditions": [{"name": "x"}])") + " --out " + fresh("sb_status") + " --status",
                   "no ledger");
}

TEST(CliSweep, MpirunSpreadsRunsOverRanksAndRankZeroOwnsTheLedger) {
  if (!SYMBREAK_WITH_MPI) GTEST_SKIP() << "built without Open MPI (-DSYMBREAK_WITH_MPI=ON)";
  const std::string plan = quick_plan("sweep_mpi", 200), out = fresh("sweep_mpi_out");
  const std::string cmd =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 mpirun -np 2 "
      "--oversubscribe " +
      std::string(SYMBREAK_CLI) + " sweep --plan " + plan + " --out " + out + " --threads 1 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  std::size_t got;
  while ((got = fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, got);
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  const LedgerRows rows = read_ledger(out + "/ledger.sqlite");
  ASSERT_EQ(rows.status.size(), 4u) << output;
  for (const auto& [id, s] : rows.status) EXPECT_EQ(s, "done") << id;
  EXPECT_EQ(rows.ranks, (std::set<int>{0, 1})) << "both ranks ran work\n" << output;
  EXPECT_THAT(output, HasSubstr("over 2 MPI ranks"));
}

TEST(CliAnalyze, WritesEveryMeasurementAndRejectsWhatIsNotARun) {
  const std::string run = fresh("analyze_run");
  const std::string config = write_file("analyze_cfg.json", R"({
    "model": {"d_model": 16, "heads": 2, "layers": 2, "positional_encoding": "none", "mask": "causal"},
    "task": {"bos": true, "test_size": 100},
    "train": {"steps": 20, "batch": 16, "eval_every": 20, "checkpoint_every": 20, "threads": 1},
    "symmetry_breaking_bias": {"enabled": true, "value": false}})");
  ASSERT_EQ(run_cli("train --config " + config + " --out " + run + " --seed 4").exit_code, 0);
  const CliResult r = run_cli("analyze " + run + " --prompts 120 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("excluded constant slots"));
  const nlohmann::json a = nlohmann::json::parse(slurp(run + "/analysis/analysis.json"));
  EXPECT_EQ(a["tokens"], nlohmann::json({"^", "a", "b", "c", "+", "d", "e", "f", "=", "u", "t", "h"}));
  EXPECT_EQ(a["pairs"].size(), 3u);  // (0,1), (1,2), (0,2)
  EXPECT_EQ(a["retention"].size(), 3u);
  EXPECT_EQ(a["self_attention_mass"].size(), 2u);
  EXPECT_TRUE(a["alignment"]["bias_enabled"].get<bool>());
  // BOS is constant at every layer of a causal model and must be excluded, never divided by.
  bool bos_excluded = false;
  for (const auto& e : a["excluded_slots"]) bos_excluded = bos_excluded || (e["token"] == "^" && e["layer"] == 2);
  EXPECT_TRUE(bos_excluded);
  for (const char* f :
       {"cka.csv", "retention.csv", "pairs.csv", "pearson.png", "pearson.svg", "cka.png", "retention.svg", "pearson_0_1.npy"})
    EXPECT_TRUE(fs::exists(run + "/analysis/" + f)) << f;
  const CliResult init = run_cli("analyze " + run + " --at-init --prompts 120 --threads 1");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  EXPECT_TRUE(nlohmann::json::parse(slurp(run + "/analysis-init/analysis.json"))["at_init"].get<bool>());
  expect_bad_input("analyze " + scratch("not_a_run_dir"), "config.json");
  expect_bad_input("analyze " + run + " --prompts 10", "--prompts");
  const std::string two = fresh("analyze_two");
  expect_bad_input("analyze " + run + " " + run, "--out is required");
}

}  // namespace
}  // namespace symbreak::test
