// symbreak analyze: correlation structure, token retention, position probes, attention mass and
// bias alignment of trained runs (or of their untrained weights, the control).
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "symbreak/experiments/analysis.hpp"

namespace symbreak::cli {

Action register_analyze(CLI::App& app) {
  struct Flags {
    std::vector<std::string> runs;
    std::string out;
    int prompts = 2000, threads = 2;
    bool at_init = false;
    std::optional<int> at_step;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd =
      app.add_subcommand("analyze", "Measure what a trained model keeps where (Paper A's residual claim, Paper B's alignment)");
  cmd->add_option("runs", f->runs, "Run directories written by symbreak train (config.json, run.json, weights.bin)")->required();
  cmd->add_option("--prompts", f->prompts, "Test prompts fed teacher-forced (the first P of the run's fixed test set)")
      ->check(CLI::Range(50, 1000000));
  cmd->add_flag("--at-init", f->at_init, "Analyse the seed's untrained weights instead (the control)");
  cmd->add_option("--at-step", f->at_step,
                  "Analyse the weights train kept at step N (train --keep-weights-at N; written to RUN/analysis-stepN)")
      ->check(CLI::Range(1, 100000000))
      ->excludes("--at-init");
  cmd->add_option("--out", f->out,
                  "Output directory (default RUN/analysis, or RUN/analysis-init with --at-init; with several runs, "
                  "DIR/<run> for each and DIR/pearson.{png,svg} with one row per run)");
  cmd->add_option("--threads", f->threads, "Threads")->check(CLI::Range(1, 256));
  return [f]() {
    if (f->runs.size() > 1 && f->out.empty()) throw std::invalid_argument("--out is required with several run directories");
    experiments::AnalysisOptions options;
    options.prompts = f->prompts;
    options.at_init = f->at_init;
    options.at_step = f->at_step;
    options.threads = f->threads;
    std::vector<experiments::RunAnalysis> analyses;
    std::vector<std::string> names;
    for (const std::string& dir : f->runs) {
      const experiments::RunFiles run = experiments::read_run(dir);  // reads everything before any work
      std::cout << "symbreak analyze: " << dir
                << (f->at_init   ? " (untrained weights)"
                    : f->at_step ? " (weights at step " + std::to_string(*f->at_step) + ")"
                                 : "")
                << ", " << options.prompts
                << " prompts\n"
                << std::flush;
      experiments::RunAnalysis a = experiments::analyze(run, options);
      const std::string out = f->runs.size() > 1 ? f->out + "/" + run.name
                              : !f->out.empty()  ? f->out
                                                 : experiments::analysis_dir(dir, f->at_init, f->at_step);
      experiments::write_analysis(a, out);
      fmt::print("  excluded constant slots: {}\n", a.excluded_slots.size());
      fmt::print("  {:<10} {:>8} {:>8}\n", "pair", "D", "A");
      for (const experiments::PairMeasures& p : a.pairs)
        fmt::print("  {:<10} {:8.3f} {:8.3f}\n", fmt::format("({}, {})", p.from, p.to), p.diagonality_index, p.argmax_rate);
      // Row l: the stream after l blocks; its self-attention column is block l+1's, which reads it.
      fmt::print("  {:<6} {:>10} {:>10} {:>10} {:>16}\n", "layer", "R own", "R other", "position", "next self-attn");
      for (std::size_t l = 0; l < a.retention.size(); ++l) {
        const std::string mass = l < a.self_attention_mass.size() ? fmt::format("{:.3f}", a.self_attention_mass[l]) : "n/a";
        fmt::print("  {:<6} {:10.3f} {:10.3f} {:10.3f} {:>16}\n", l, a.retention[l].own_token, a.retention[l].other_tokens,
                   a.position_probe[l].accuracy, mass);
      }
      fmt::print("  alignment with the mean query bias (bias {}): mean z raw {:.2f}, actual keys {:.2f}\n",
                 a.alignment.bias_enabled ? "on" : "off", a.alignment.mean_z_raw, a.alignment.mean_z_actual);
      std::cout << "  wrote " << out << "/analysis.json, CSVs, pearson/cka/retention .png and .svg\n";
      names.push_back(run.name);
      analyses.push_back(std::move(a));
    }
    if (analyses.size() > 1) {
      std::vector<const experiments::RunAnalysis*> rows;
      for (const auto& a : analyses) rows.push_back(&a);
      experiments::write_pearson_grid(
          rows, names, "Pearson correlation between layers" + std::string(f->at_init ? " (untrained)" : ""), f->out + "/pearson");
      std::cout << "wrote " << f->out << "/pearson.png and .svg (one row per run)\n";
    }
    return 0;
  };
}

}  // namespace symbreak::cli
