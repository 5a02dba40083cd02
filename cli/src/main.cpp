#include <cstdio>
#include <exception>
#include <iostream>
#include <stdexcept>

#include "commands.hpp"
#include "symbreak/config.hpp"

int main(int argc, char** argv) {
  CLI::App app{"symbreak: prove, test and measure the symmetries of transformers"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, symbreak::cli::Action>> commands;
  const auto add = [&](symbreak::cli::Action (*registrar)(CLI::App&)) {
    const std::size_t before = app.get_subcommands({}).size();
    symbreak::cli::Action action = registrar(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(action));
  };
  add(symbreak::cli::register_demo);
  add(symbreak::cli::register_check);
  add(symbreak::cli::register_validate);
  add(symbreak::cli::register_prove);
  add(symbreak::cli::register_train);
  add(symbreak::cli::register_analyze);
  // sweep and reproduce start MPI (under mpirun), which needs the process's arguments.
  for (auto* registrar : {symbreak::cli::register_sweep, symbreak::cli::register_reproduce}) {
    const std::size_t before = app.get_subcommands({}).size();
    symbreak::cli::Action action = registrar(app, &argc, &argv);
    commands.emplace_back(app.get_subcommands({})[before], std::move(action));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\n(run 'symbreak --help' for usage)\n";
    return 2;
  }
  try {
    for (auto& [sub, action] : commands)
      if (sub->parsed()) return action();
    return 2;
  } catch (const symbreak::ConfigError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const std::runtime_error& e) {  // files that cannot be read or written
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: internal: " << e.what() << '\n';
    return 3;
  }
}
