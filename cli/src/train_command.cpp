// symbreak train: the reference model on 3-digit addition.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.hpp"
#include "symbreak/experiments/trainer.hpp"

namespace symbreak::cli {
namespace {

std::string duration(double seconds) {
  const int s = static_cast<int>(seconds);
  if (seconds >= 3600) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  if (seconds >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{:.0f}s", seconds);
}

}  // namespace

Action register_train(CLI::App& app) {
  struct Flags {
    std::string config, out;
    std::uint64_t seed = 1;
    std::optional<int> steps, threads;
    bool resume = false;
    std::string trace;
    std::vector<int> snapshots{1, 10, 100};
    std::vector<int> keep_weights_at;
    std::vector<long> product_blocking;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("train", "Train the reference model on 3-digit addition");
  cmd->add_option("--config", f->config, "A training config (experiments/configs/*.json)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--seed", f->seed, "Seed for weights, data and biases");
  cmd->add_option("--out", f->out, "Output directory (metrics.csv, final.json, weights.bin, checkpoint.bin)")->required();
  cmd->add_option("--steps", f->steps, "Override the number of steps")->check(CLI::Range(1, 100000000));
  cmd->add_option("--threads", f->threads, "Override the thread count")->check(CLI::Range(1, 256));
  cmd->add_flag("--resume", f->resume, "Continue from --out/checkpoint.bin (bit-identical to an uninterrupted run)");
  cmd->add_option("--trace", f->trace,
                  "Write a step-by-step trace for parity with PyTorch (experiments/parity): initial weights, every step's "
                  "batch, lr, loss and gradient norm, weights and optimizer state at --trace-steps");
  cmd->add_option("--trace-steps", f->snapshots, "Steps after which --trace keeps the weights and optimizer state")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--keep-weights-at", f->keep_weights_at,
                  "Steps after which to keep the weights as --out/weights-step<N>.bin (for symbreak analyze --at-step N)")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--product-blocking", f->product_blocking,
                  fmt::format("L1,L2,L3 cache sizes in bytes that Eigen blocks its products by (default: symbreak's fixed "
                              "{},{},{}, the same on every machine); for replaying a run whose run.json records others",
                              kProductBlocking.l1, kProductBlocking.l2, kProductBlocking.l3))
      ->delimiter(',')
      ->expected(3)
      ->check(CLI::PositiveNumber);
  return [f]() {
    experiments::TrainOptions o;
    if (!f->product_blocking.empty())
      o.product_blocking = ProductBlocking{f->product_blocking[0], f->product_blocking[1], f->product_blocking[2]};
    o.config = experiments::load_train_config(f->config);
    o.seed = f->seed;
    o.out_dir = f->out;
    o.steps = f->steps;
    o.threads = f->threads;
    o.resume = f->resume;
    o.trace_dir = f->trace;
    o.trace_snapshots = f->snapshots;
    o.keep_weights_at = f->keep_weights_at;
    const bool tty = ::isatty(1);
    o.progress = [tty](const experiments::Progress& p) {
      const int width = 24, filled = p.steps ? p.step * width / p.steps : width;
      std::string bar = std::string(filled, '#') + std::string(width - filled, '-');
      if (p.eval) {
        const std::string line = fmt::format(
            "step {:6}/{}  [{}]  loss {:.4f}  test exact {:.4f}  digits {:.3f}  {:.0f} tok/s  ETA {}", p.step, p.steps, bar,
            p.loss, p.eval->exact_match, fmt::join(p.eval->per_digit, " "), p.tokens_per_second, duration(p.eta_seconds));
        if (tty) std::cout << "\r" << line << "\033[K\n" << std::flush;
        else std::cout << line << "\n" << std::flush;
      } else if (tty) {
        const std::string line = fmt::format("step {:6}/{}  [{}]  loss {:.4f}  {:.0f} tok/s  ETA {}", p.step, p.steps, bar,
                                             p.loss, p.tokens_per_second, duration(p.eta_seconds));
        std::cout << "\r" << line << "\033[K" << std::flush;
      }
    };
    std::cout << "symbreak train: " << f->config << ", seed " << f->seed << ", out " << f->out << "\n";
    const experiments::TrainResult r = experiments::train(o);
    if (r.resumed) std::cout << "(resumed from step " << r.resumed_from << ")\n";
    std::printf("final: test exact match %.4f, per digit %.4f %.4f %.4f %.4f, loss %.4f, %d steps, %.1f s\n",
                r.final_eval.exact_match, r.final_eval.per_digit[0], r.final_eval.per_digit[1], r.final_eval.per_digit[2],
                r.final_eval.per_digit[3], r.final_loss, r.steps, r.wall_seconds);
    return 0;
  };
}

}  // namespace symbreak::cli
