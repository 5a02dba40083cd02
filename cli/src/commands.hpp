// The subcommands of the symbreak tool. Each registers its options on the CLI11 app and returns the
// action to run after parsing. Exit codes: 0 success, 1 an expectation failed, 2 bad input.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace symbreak::cli {

using Action = std::function<int()>;

Action register_demo(CLI::App& app);
Action register_check(CLI::App& app);
Action register_validate(CLI::App& app);
Action register_prove(CLI::App& app);
Action register_train(CLI::App& app);
Action register_analyze(CLI::App& app);
// MPI_Init needs the process's arguments.
Action register_sweep(CLI::App& app, int* argc, char*** argv);
Action register_reproduce(CLI::App& app, int* argc, char*** argv);

}  // namespace symbreak::cli
