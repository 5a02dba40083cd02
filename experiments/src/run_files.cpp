// A run's files that other code reads back: metrics.csv (one row per evaluation) and weights.bin
// (named tensors).
#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "symbreak/experiments/optimizer.hpp"
#include "symbreak/experiments/trainer.hpp"

namespace symbreak::experiments {

// metrics.csv's columns: written by metrics_csv(), read by read_metrics_csv().
// Runs before 2026-12-06 have no test_loss column; they read back with test_loss NaN.
constexpr const char* kMetricsHeader = "step,loss,test_exact_match,digit0,digit1,digit2,digit3,lr,tokens_per_s,wall_s,test_loss";
constexpr const char* kMetricsHeaderWithoutTestLoss =
    "step,loss,test_exact_match,digit0,digit1,digit2,digit3,lr,tokens_per_s,wall_s";

std::vector<MetricsRow> read_metrics_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot be read");
  std::string line;
  if (!std::getline(in, line) || (line != kMetricsHeader && line != kMetricsHeaderWithoutTestLoss))
    throw std::runtime_error(path + ": line 1 is not the header '" + std::string(kMetricsHeader) + "'");
  const std::size_t columns = line == kMetricsHeader ? 11 : 10;
  std::vector<MetricsRow> rows;
  for (int number = 2; std::getline(in, line); ++number) {
    std::vector<std::string> fields;
    std::stringstream ls(line);
    for (std::string f; std::getline(ls, f, ',');) fields.push_back(f);
    if (fields.size() != columns)
      throw std::runtime_error(path + ": line " + std::to_string(number) + " has " + std::to_string(fields.size()) +
                               " fields, not " + std::to_string(columns));
    const auto number_in = [&](int column) {
      std::size_t used = 0;
      double v = 0;
      try {
        v = std::stod(fields[column], &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != fields[column].size()) {
        std::string name = kMetricsHeader;
        for (int c = 0; c < column; ++c) name = name.substr(name.find(',') + 1);
        throw std::runtime_error(path + ": line " + std::to_string(number) + ", column " + name.substr(0, name.find(',')) +
                                 ": '" + fields[column] + "' is not a number");
      }
      return v;
    };
    MetricsRow r;
    r.step = static_cast<int>(number_in(0));
    r.loss = number_in(1);
    r.eval.exact_match = number_in(2);
    for (int k = 0; k < 4; ++k) r.eval.per_digit[k] = number_in(3 + k);
    r.lr = number_in(7);
    r.tokens_per_second = number_in(8);
    r.wall_seconds = number_in(9);
    if (columns == 11) r.eval.test_loss = number_in(10);
    rows.push_back(r);
  }
  return rows;
}

std::string metrics_csv(const std::vector<MetricsRow>& rows) {
  std::string s = std::string(kMetricsHeader) + "\n";
  for (const MetricsRow& r : rows)
    s += fmt::format("{},{:.6f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.6g},{:.1f},{:.2f},{:.6f}\n", r.step, r.loss,
                     r.eval.exact_match, r.eval.per_digit[0], r.eval.per_digit[1], r.eval.per_digit[2], r.eval.per_digit[3],
                     r.lr, r.tokens_per_second, r.wall_seconds, r.eval.test_loss);
  return s;
}

// One trainer per output directory: a second one (a sweep restarted while its killed child is still
// exiting, or a user's mistake) waits up to 30 s for the first to go, then refuses. The lock is
// released when the process ends, however it ends.

std::string weights_bytes(const Weights<float>& weights) {
  std::ostringstream out;
  const auto params = named_parameters(weights);
  write_u64(out, params.size());
  for (const auto& [name, t] : params) {
    write_u64(out, name.size());
    out.write(name.data(), static_cast<std::streamsize>(name.size()));
    write_u64(out, static_cast<std::uint64_t>(t->rows));
    write_u64(out, static_cast<std::uint64_t>(t->cols));
    write_floats(out, t->data);
  }
  return out.str();
}

void load_weights_bytes(const std::string& bytes, Weights<float>& weights) {
  std::istringstream in(bytes);
  auto params = named_parameters(weights);
  if (read_u64(in) != params.size()) throw std::runtime_error("weights: the number of tensors does not match the model");
  for (auto& [name, t] : params) {
    std::string stored(read_u64(in), '\0');
    in.read(stored.data(), static_cast<std::streamsize>(stored.size()));
    if (stored != name) throw std::runtime_error("weights: tensor \"" + stored + "\" where \"" + name + "\" was expected");
    if (read_u64(in) != static_cast<std::uint64_t>(t->rows) || read_u64(in) != static_cast<std::uint64_t>(t->cols))
      throw std::runtime_error("weights: tensor \"" + name + "\" has another shape");
    read_floats(in, t->data);
  }
}

}  // namespace symbreak::experiments
