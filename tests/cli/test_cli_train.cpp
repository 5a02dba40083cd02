// End-to-end: symbreak train, including resuming after kill -9.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli_runner.hpp"

extern char** environ;

namespace symbreak::test {
namespace {

using ::testing::HasSubstr;

std::string tiny_config() {
  return write_file("train_tiny.json", R"({
    "model": {"d_model": 32, "heads": 2, "layers": 2, "positional_encoding": "learned", "mask": "causal"},
    "task": {"test_size": 200},
    "train": {"steps": 400, "batch": 32, "eval_every": 100, "checkpoint_every": 20, "threads": 2},
    "optimizer": {"name": "adamw", "lr": 0.002, "betas": [0.9, 0.98]},
    "schedule": {"name": "cosine", "warmup_steps": 20}})");
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = std::string(SYMBREAK_TEST_TMP) + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(CliTrain, WritesMetricsFinalJsonAndWeights) {
  const std::string out = fresh_dir("train_outputs");
  const CliResult r = run_cli("train --config " + tiny_config() + " --out " + out + " --steps 100 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("step    100/100"));  // plain lines when stdout is not a terminal
  EXPECT_THAT(r.output, HasSubstr("tok/s"));
  EXPECT_THAT(slurp(out + "/metrics.csv"),
              HasSubstr("step,loss,test_exact_match,digit0,digit1,digit2,digit3,lr,tokens_per_s,wall_s"));
  const nlohmann::json final_json = nlohmann::json::parse(slurp(out + "/final.json"));
  for (const char* key : {"test_exact_match", "per_digit_accuracy", "final_loss", "steps", "wall_seconds"})
    EXPECT_TRUE(final_json.contains(key)) << key;
  EXPECT_EQ(final_json["steps"], 100);
  EXPECT_EQ(final_json["config"]["train"]["steps"], 100);  // the config as run, with the override
  // run.json: the seed, and the OpenBLAS kernels that a replay (reproduce --verify) must use.
  const nlohmann::json run_json = nlohmann::json::parse(slurp(out + "/run.json"));
  EXPECT_EQ(run_json["seed"], 3);
  ASSERT_TRUE(run_json.contains("blas_kernels") && run_json["blas_kernels"].is_string());
  EXPECT_THAT(run_json["blas_kernels"].get<std::string>(), ::testing::MatchesRegex("[A-Za-z0-9]+"));
  // ... and the cache sizes Eigen blocked its products by: core's fixed ones, whatever this CPU has.
  EXPECT_EQ(run_json["product_blocking"], nlohmann::json::parse("[32768, 1048576, 335544320]"));
  EXPECT_TRUE(std::filesystem::exists(out + "/weights.bin"));
  EXPECT_TRUE(std::filesystem::exists(out + "/checkpoint.bin"));
}

TEST(CliTrain, ResumeAfterKillNineIsBitIdentical) {
  const std::string config = tiny_config(), whole = fresh_dir("train_whole"), killed = fresh_dir("train_killed");
  ASSERT_EQ(run_cli("train --config " + config + " --out " + whole + " --seed 5").exit_code, 0);

  // Start the same run, kill -9 it after it has written a checkpoint, resume it.
  pid_t pid;
  const std::string cli = SYMBREAK_CLI;
  std::vector<std::string> args{cli, "train", "--config", config, "--out", killed, "--seed", "5"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  ASSERT_EQ(posix_spawn(&pid, cli.c_str(), &actions, nullptr, argv.data(), environ), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(killed + "/checkpoint.bin") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed; make it longer";
  ASSERT_TRUE(std::filesystem::exists(killed + "/checkpoint.bin"));
  EXPECT_FALSE(std::filesystem::exists(killed + "/final.json"));

  const CliResult resumed = run_cli("train --config " + config + " --out " + killed + " --seed 5 --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("resumed from step"));
  EXPECT_EQ(slurp(whole + "/weights.bin"), slurp(killed + "/weights.bin")) << "the weights' bits must be identical";
}

// A replay of a run trained before core pinned Eigen's product blocking passes the sizes the run used.
TEST(CliTrain, ProductBlockingFlagIsUsedAndRecorded) {
  const std::string out = fresh_dir("train_blocking");
  const CliResult r = run_cli("train --config " + tiny_config() + " --out " + out + " --steps 2 --product-blocking 49152,1310720,37748736");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(slurp(out + "/run.json"))["product_blocking"],
            nlohmann::json::parse("[49152, 1310720, 37748736]"));
}

TEST(CliTrain, BadInputExitsTwoBeforeTraining) {
  expect_bad_input("train --out /tmp/x", "--config");
  expect_bad_input("train --config " + tiny_config(), "--out");
  const std::string bad = write_file("train_bad.json", R"({"model": {}, "optimizer": {"name": "adam"}})");
  expect_bad_input("train --config " + bad + " --out " + fresh_dir("train_bad"), "allowed: adamw, sgd, ecd, soap");
  const std::string file = write_file("not_a_directory", "x");
  expect_bad_input("train --config " + tiny_config() + " --out " + file + "/sub", "cannot create the directory");
  expect_bad_input("train --config " + tiny_config() + " --out /proc/symbreak-out", "--out /proc/symbreak-out");
  expect_bad_input("train --config " + tiny_config() + " --out " + fresh_dir("train_flags") + " --steps 0", "--steps");
  for (const char* sizes : {"0,1048576,335544320", "32768,1048576", "32768,x,335544320"})
    expect_bad_input("train --config " + tiny_config() + " --out " + fresh_dir("train_flags") + " --product-blocking " + sizes,
                     "--product-blocking");
}

}  // namespace
}  // namespace symbreak::test
