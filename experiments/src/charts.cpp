// The chart kinds the sweeps and the report draw: heatmap grids, bars with whiskers, line charts.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "symbreak/experiments/figure.hpp"

namespace symbreak::experiments {
namespace {

// A vertical colour bar at (x, y) of height h with round ticks and a rotated label.
void colour_bar(Figure& f, double x, double y, double h, bool div, double lo, double hi, const std::string& label) {
  const int steps = 200;
  Image bar(1, steps);
  for (int i = 0; i < steps; ++i) {
    const double v = hi - (hi - lo) * (i + 0.5) / steps;
    bar.set(0, i, div ? diverging(v) : sequential((v - lo) / (hi - lo)));
  }
  f.image(x, y, 16, h, bar);
  f.stroke_rect(x, y, 16, h, kBlack);
  const std::vector<double> ticks = nice_ticks(lo, hi);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (const double v : ticks) {
    const double ty = y + h * (hi - v) / (hi - lo);
    f.line(x + 16, ty, x + 20, ty, kBlack);
    f.text(x + 23, ty - 7, tick_text(v, step));
  }
  f.text(x + 60, y + h / 2 + Figure::text_width(label) / 2.0, label, kBlack, Anchor::start, 1, true);
}

// Every figure centres its title; a figure narrower than it would clip it.
int widened_for_title(int width, const std::string& title) {
  return std::max(width, static_cast<int>(std::ceil(Figure::text_width(title, 2))) + 40);
}

// The matrix shown as means over side×side blocks of cells, so that it has at most `side` pixels a
// side; NaN cells (constant units) are left out of a mean, and a block of only NaN stays NaN.
Eigen::MatrixXd block_means(const Eigen::MatrixXd& m, Eigen::Index side) {
  if (m.rows() <= side && m.cols() <= side) return m;
  const Eigen::Index rows = std::min(side, m.rows()), cols = std::min(side, m.cols());
  Eigen::MatrixXd out(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < cols; ++j) {
      double sum = 0;
      int n = 0;
      for (Eigen::Index a = i * m.rows() / rows; a < (i + 1) * m.rows() / rows; ++a)
        for (Eigen::Index b = j * m.cols() / cols; b < (j + 1) * m.cols() / cols; ++b)
          if (!std::isnan(m(a, b))) sum += m(a, b), ++n;
      out(i, j) = n ? sum / n : std::numeric_limits<double>::quiet_NaN();
    }
  return out;
}

}  // namespace

Figure heatmap_grid(const HeatmapGrid& spec) {
  const int rows = static_cast<int>(spec.panels.size());
  int cols = 0, panels = 0;  // rows may hold fewer panels than others; the missing ones stay blank
  Eigen::Index largest = 0;
  for (const auto& row : spec.panels) {
    cols = std::max(cols, static_cast<int>(row.size()));
    for (const auto& m : row)
      if (m.size() > 0) ++panels, largest = std::max({largest, m.rows(), m.cols()});
  }
  // Each panel's share of the image budget, and never more pixels than the panel has on screen; a
  // whole number of screen pixels per image pixel keeps the cells square and the PNG compressible.
  const auto share = std::max<Eigen::Index>(
      8, static_cast<Eigen::Index>(std::sqrt(static_cast<double>(spec.max_image_pixels) / std::max(1, panels))));
  const Eigen::Index side = spec.panel_pixels / ((spec.panel_pixels + share - 1) / share);
  double row_label_w = 0, tick_w = 0;
  for (const auto& l : spec.row_labels) row_label_w = std::max(row_label_w, Figure::text_width(l));
  for (const auto& l : spec.block_labels) tick_w = std::max(tick_w, Figure::text_width(l));
  const int P = spec.panel_pixels, gap = 18 + static_cast<int>(tick_w);
  const int left = 30 + static_cast<int>(row_label_w) + 14 + static_cast<int>(tick_w), top = 64;
  const int width = widened_for_title(left + cols * (P + gap) + 100, spec.title);
  const int height = top + rows * (P + gap + 16) + 58;
  Figure f(width, height);
  f.text(width / 2.0, 12, spec.title, kBlack, Anchor::middle, 2);
  for (int c = 0; c < cols; ++c)
    if (c < static_cast<int>(spec.column_labels.size()))
      f.text(left + c * (P + gap) + P / 2.0, top - 20, spec.column_labels[c], kBlack, Anchor::middle);
  for (int r = 0; r < rows; ++r) {
    const double py = top + r * (P + gap + 16);
    if (r < static_cast<int>(spec.row_labels.size())) f.text(30, py + P / 2.0 - 7, spec.row_labels[r]);
    for (int c = 0; c < static_cast<int>(spec.panels[r].size()); ++c) {
      const Eigen::MatrixXd& full = spec.panels[r][c];
      const double px = left + c * (P + gap);
      if (full.size() == 0) continue;
      const Eigen::MatrixXd m = block_means(full, side);
      Image img(static_cast<int>(m.cols()), static_cast<int>(m.rows()));
      for (Eigen::Index i = 0; i < m.rows(); ++i)
        for (Eigen::Index j = 0; j < m.cols(); ++j) {
          const double v = m(i, j);
          img.set(static_cast<int>(j), static_cast<int>(i),
                  spec.diverging ? diverging(v) : sequential((v - spec.lo) / (spec.hi - spec.lo)));
        }
      f.image(px, py, P, P, img);
      const int blocks = static_cast<int>(spec.block_labels.size());
      for (int k = 0; k < blocks; ++k) {
        const double a = P * static_cast<double>(k) / blocks, mid = P * (k + 0.5) / blocks;
        if (k > 0 && full.rows() > blocks) {
          f.line(px + a, py, px + a, py + P, kBlack);
          f.line(px, py + a, px + P, py + a, kBlack);
        }
        f.text(px + mid, py + P + 3, spec.block_labels[k], kBlack, Anchor::middle);
        if (c == 0) f.text(px - 4, py + mid - 7, spec.block_labels[k], kBlack, Anchor::end);
      }
      if (spec.annotate && m.rows() * m.cols() <= 400) {
        for (Eigen::Index i = 0; i < m.rows(); ++i)
          for (Eigen::Index j = 0; j < m.cols(); ++j) {
            const double v = m(i, j);
            if (std::isnan(v)) continue;
            const double t = spec.diverging ? std::abs(v) : (v - spec.lo) / (spec.hi - spec.lo);
            const std::string value = fmt::format("{:.2f}", v);  // "0.25" drawn as ".25", "-0.25" kept
            f.text(px + P * (j + 0.5) / m.cols(), py + P * (i + 0.5) / m.rows() - 7, v < 0 ? value : value.substr(1),
                   t > 0.6 ? kWhite : kBlack, Anchor::middle);
          }
      }
      f.stroke_rect(px, py, P, P, kBlack);
    }
  }
  const double grid_bottom = top + rows * (P + gap + 16);
  f.text(left + (cols * (P + gap) - gap) / 2.0, grid_bottom + 4, spec.x_label, kBlack, Anchor::middle);
  if (largest > side)
    f.text(30, grid_bottom + 24,
           fmt::format("Matrices larger than {0}×{0} are drawn as means over square blocks of cells ({1}×{1} cells shown as "
                       "{0}×{0}).",
                       side, largest),
           kGrey);
  f.text(6, top + (rows * (P + gap + 16)) / 2.0 + Figure::text_width(spec.y_label) / 2.0, spec.y_label, kBlack, Anchor::start, 1,
         true);
  colour_bar(f, left + cols * (P + gap) + 4, top, std::min(rows * (P + gap + 16) - gap - 16, 400), spec.diverging, spec.lo,
             spec.hi, spec.colour_label);
  return f;
}

namespace {

struct Axes {
  double x, y, w, h, y_min, y_max;
  double to_y(double v) const { return y + h - (std::clamp(v, y_min, y_max) - y_min) / (y_max - y_min) * h; }
};

// The title, the y axis with its label and round ticks, and the x axis line (its ticks and label are
// the caller's).
Axes draw_axes(Figure& f, const std::string& title, const std::string& y_label, double y_min, double y_max, int bottom_margin) {
  const Axes a{80, 50, f.width() - 110.0, f.height() - 50.0 - bottom_margin, y_min, y_max};
  f.text(f.width() / 2.0, 10, title, kBlack, Anchor::middle, 2);
  const std::vector<double> ticks = nice_ticks(y_min, y_max);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (const double v : ticks) {
    const double ty = a.to_y(v);
    f.line(a.x, ty, a.x + a.w, ty, kLightGrey);
    f.line(a.x - 4, ty, a.x, ty, kBlack);
    f.text(a.x - 7, ty - 7, tick_text(v, step), kBlack, Anchor::end);
  }
  f.line(a.x, a.y, a.x, a.y + a.h, kBlack);
  f.line(a.x, a.y + a.h, a.x + a.w, a.y + a.h, kBlack);
  f.text(14, a.y + a.h / 2 + Figure::text_width(y_label) / 2.0, y_label, kBlack, Anchor::start, 1, true);
  return a;
}

void reference_lines(Figure& f, const Axes& a, const std::vector<std::pair<double, std::string>>& lines) {
  for (const auto& [v, label] : lines) {
    const double y = a.to_y(v);
    f.line(a.x, y, a.x + a.w, y, {200, 0, 0}, 1, {4, 4});
    f.text(a.x + a.w - 4, y - 16, label, {200, 0, 0}, Anchor::end);
  }
}

}  // namespace

Figure bar_chart(const BarChart& spec) {
  const int n = static_cast<int>(spec.categories.size());
  double longest = 0;
  for (const auto& c : spec.categories) longest = std::max(longest, Figure::text_width(c));
  const bool rotate = longest > 50;
  const int rotated = rotate ? static_cast<int>(longest) : 0;
  Figure f(widened_for_title(std::max(420, 110 + n * 56), spec.title), 380 + rotated);
  const Axes a = draw_axes(f, spec.title, spec.y_label, spec.y_min, spec.y_max, 60 + rotated);
  f.text(a.x + a.w / 2, f.height() - 22.0, spec.x_label, kBlack, Anchor::middle);
  const double slot = a.w / std::max(1, n);
  for (int i = 0; i < n; ++i) {
    const double cx = a.x + slot * (i + 0.5), bw = slot * 0.6;
    const Rgb colour =
        spec.colours.empty() ? series_style(0).colour : spec.colours[static_cast<std::size_t>(i) % spec.colours.size()];
    const double v = spec.values[i];
    if (!std::isnan(v)) f.fill_rect(cx - bw / 2, a.to_y(v), bw, a.to_y(spec.y_min) - a.to_y(v), colour);
    if (!spec.lo.empty() && !std::isnan(spec.lo[i])) {
      const double ylo = a.to_y(spec.lo[i]), yhi = a.to_y(spec.hi[i]);
      f.line(cx, ylo, cx, yhi, kBlack, 2);
      f.line(cx - 6, ylo, cx + 6, ylo, kBlack, 2);
      f.line(cx - 6, yhi, cx + 6, yhi, kBlack, 2);
    }
    if (rotate)
      f.text(cx - 7, a.y + a.h + 6 + Figure::text_width(spec.categories[i]), spec.categories[i], kBlack, Anchor::start, 1, true);
    else f.text(cx, a.y + a.h + 6, spec.categories[i], kBlack, Anchor::middle);
  }
  reference_lines(f, a, spec.reference_lines);
  return f;
}

Figure line_chart(const LineChart& spec) {
  const int legend_rows = static_cast<int>((spec.series.size() + 2) / 3);
  Figure f(widened_for_title(780, spec.title), 440 + 18 * legend_rows);
  const Axes a = draw_axes(f, spec.title, spec.y_label, spec.y_min, spec.y_max, 74 + 18 * legend_rows);
  f.text(a.x + a.w / 2, a.y + a.h + 24, spec.x_label, kBlack, Anchor::middle);
  double x_min = INFINITY, x_max = -INFINITY;
  for (const auto& s : spec.series)
    for (double x : s.x) x_min = std::min(x_min, x), x_max = std::max(x_max, x);
  if (!(x_max > x_min)) x_min = 0, x_max = std::max(1.0, x_max);
  const auto to_x = [&](double v) { return a.x + (v - x_min) / (x_max - x_min) * a.w; };
  const std::vector<double> ticks = nice_ticks(x_min, x_max);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (const double v : ticks) {
    f.line(to_x(v), a.y + a.h, to_x(v), a.y + a.h + 4, kBlack);
    f.text(to_x(v), a.y + a.h + 6, tick_text(v, step), kBlack, Anchor::middle);
  }
  reference_lines(f, a, spec.reference_lines);
  for (std::size_t i = 0; i < spec.series.size(); ++i) {
    const auto& s = spec.series[i];
    const SeriesStyle style = series_style(static_cast<int>(i));
    std::vector<double> xs, ys;
    for (std::size_t k = 0; k < s.x.size(); ++k) xs.push_back(to_x(s.x[k])), ys.push_back(a.to_y(s.y[k]));
    f.polyline(xs, ys, style.colour, 2, style.dash);
    const double lx = a.x + static_cast<double>(i % 3) * (a.w / 3), ly = a.y + a.h + 50 + 18.0 * static_cast<double>(i / 3);
    f.line(lx, ly + 7, lx + 30, ly + 7, style.colour, 2.5, style.dash);
    f.text(lx + 36, ly, s.name);
  }
  return f;
}

}  // namespace symbreak::experiments
