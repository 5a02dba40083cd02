// What write_analysis leaves in a directory: analysis.json, the CSV tables, the Pearson matrices
// (.npy) and the figures; and the paper's picture for several analyses at once.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/figure.hpp"
#include "symbreak/io.hpp"
#include "symbreak/npy.hpp"

namespace symbreak::experiments {

namespace {

std::string pair_label(const LayerPair& p) { return "(l, l') = (" + std::to_string(p.from) + ", " + std::to_string(p.to) + ")"; }

std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  return fmt::format("{:.6g}", v);
}

}  // namespace

void write_analysis(const RunAnalysis& a, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  const int L = a.model.layers;
  const std::vector<PairMeasures>& pairs = a.pairs;
  const int n = a.layout.length;
  std::string cka_csv = "from,to,i,j,cka\n", pairs_csv = "from,to,diagonality_index,argmax_rate\n",
              retention_csv = "layer,slot,slot_token,digit_position,digit_token,accuracy\n";
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    const auto& pr = pairs[p];
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < n; ++k)
        cka_csv += std::to_string(pr.from) + "," + std::to_string(pr.to) + "," + std::to_string(i) + "," + std::to_string(k) +
                   "," + csv_number(a.cka[p](i, k)) + "\n";
    pairs_csv += std::to_string(pr.from) + "," + std::to_string(pr.to) + "," + csv_number(pr.diagonality_index) + "," +
                 csv_number(pr.argmax_rate) + "\n";
    // The full Pearson matrix, float32 (NaN marks constant units).
    std::vector<float> values(static_cast<std::size_t>(a.pearson[p].size()));
    for (Eigen::Index r = 0; r < a.pearson[p].rows(); ++r)
      for (Eigen::Index c = 0; c < a.pearson[p].cols(); ++c)
        values[static_cast<std::size_t>(r * a.pearson[p].cols() + c)] = static_cast<float>(a.pearson[p](r, c));
    write_file_atomically(out_dir + "/" + pr.pearson_file, npy_bytes(values, {static_cast<std::size_t>(a.pearson[p].rows()),
                                                                              static_cast<std::size_t>(a.pearson[p].cols())}));
  }
  const auto& digits = a.layout.digit_positions;
  for (int l = 0; l <= L; ++l) {
    const Eigen::MatrixXd& m = a.retention[static_cast<std::size_t>(l)].matrix;
    for (int k = 0; k < n; ++k)
      for (std::size_t q = 0; q < digits.size(); ++q)
        retention_csv += std::to_string(l) + "," + std::to_string(k) + "," + a.layout.labels[k] + "," +
                         std::to_string(digits[q]) + "," + a.layout.labels[digits[q]] + "," +
                         csv_number(m(k, static_cast<Eigen::Index>(q))) + "\n";
  }
  write_file_atomically(out_dir + "/cka.csv", cka_csv);
  write_file_atomically(out_dir + "/pairs.csv", pairs_csv);
  write_file_atomically(out_dir + "/retention.csv", retention_csv);
  write_file_atomically(out_dir + "/analysis.json", analysis_to_json(a).dump(1) + "\n");

  const std::string who = a.who();
  write_pearson_grid({&a}, {who}, "Pearson correlation between layers: " + who, out_dir + "/pearson");

  HeatmapGrid cka;
  cka.title = "Linear CKA between slots (l, i) and (l', j): " + who;
  cka.row_labels = {""};
  cka.panels.resize(1);
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    cka.column_labels.push_back(fmt::format("({}, {})  D = {:.2f}", pairs[p].from, pairs[p].to, pairs[p].diagonality_index));
    cka.panels[0].push_back(a.cka[p]);
  }
  cka.block_labels = a.layout.labels;
  cka.x_label = "position j in layer l' (columns)   |   grey: excluded constant slot";
  cka.y_label = "position i in layer l";
  cka.colour_label = "linear CKA";
  cka.diverging = false;
  cka.lo = 0;
  cka.hi = 1;
  cka.panel_pixels = 220;
  heatmap_grid(cka).save(out_dir + "/cka");

  HeatmapGrid ret;
  ret.title = "Token retention R_l[k, j] (held-out linear probe accuracy, chance 0.10): " + who;
  ret.row_labels = {""};
  ret.panels.resize(1);
  for (int l = 0; l <= L; ++l) {
    Eigen::MatrixXd m = Eigen::MatrixXd::Constant(n, n, kNaN);  // rows: slot k; columns: position j
    const Eigen::MatrixXd& probed = a.retention[static_cast<std::size_t>(l)].matrix;
    for (int k = 0; k < n; ++k)
      for (std::size_t q = 0; q < digits.size(); ++q) m(k, digits[q]) = probed(k, static_cast<Eigen::Index>(q));
    ret.column_labels.push_back("layer " + std::to_string(l));
    ret.panels[0].push_back(m);
  }
  ret.block_labels = a.layout.labels;
  ret.x_label = "digit read: position j (grey: not a digit, or an excluded slot)";
  ret.y_label = "slot k the probe reads";
  ret.colour_label = "held-out accuracy";
  ret.diverging = false;
  ret.lo = 0;
  ret.hi = 1;
  ret.panel_pixels = 200;
  heatmap_grid(ret).save(out_dir + "/retention");
}

void write_pearson_grid(const std::vector<const RunAnalysis*>& rows, const std::vector<std::string>& row_labels,
                        const std::string& title, const std::string& stem) {
  if (rows.empty()) return;
  HeatmapGrid g;
  g.title = title;
  g.row_labels = row_labels;
  // Rows may differ in depth (a plan can mix them): one column per layer pair that any row has, in the
  // deepest row's order, and an empty panel where a row lacks that pair.
  std::vector<std::vector<std::string>> row_pairs;
  for (const RunAnalysis* a : rows) {
    std::vector<std::string> labels;
    for (const LayerPair& p : analysed_pairs(a->model.layers)) labels.push_back(pair_label(p));
    row_pairs.push_back(std::move(labels));
  }
  g.column_labels =
      *std::max_element(row_pairs.begin(), row_pairs.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
  for (const auto& labels : row_pairs)
    for (const auto& l : labels)
      if (std::find(g.column_labels.begin(), g.column_labels.end(), l) == g.column_labels.end()) g.column_labels.push_back(l);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::vector<Eigen::MatrixXd> panels(g.column_labels.size());
    for (std::size_t k = 0; k < row_pairs[r].size() && k < rows[r]->pearson.size(); ++k) {
      const auto at = std::find(g.column_labels.begin(), g.column_labels.end(), row_pairs[r][k]);
      panels[static_cast<std::size_t>(at - g.column_labels.begin())] = rows[r]->pearson[k];
    }
    g.panels.push_back(std::move(panels));
  }
  g.block_labels = rows[0]->layout.labels;
  g.x_label = "layer l': position (blocks of d units)   |   grey: constant unit";
  g.y_label = "layer l: position (blocks of d units)";
  g.colour_label = "Pearson r";
  g.panel_pixels = 260;
  heatmap_grid(g).save(stem);
}

}  // namespace symbreak::experiments
