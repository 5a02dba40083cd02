// The figures for reviewers: every kind opens as PNG and as SVG (parsed by pugixml) with its title,
// a Pearson grid of the residual sweep stays under 2 MB, twelve series are told apart by colour and
// dash, ticks sit on round values, and long titles are never clipped.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cairo.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <random>
#include <string>

#include "symbreak/experiments/figure.hpp"
#include "symbreak/experiments/results.hpp"
#include "symbreak/experiments/sweep.hpp"

namespace symbreak::experiments {
namespace {

using ::testing::HasSubstr;

// Every figure kind, rendered: the PNG opens (signature, size) and the SVG is a well-formed XML
// document of the figure's size with its heatmaps as embedded images.
void expect_opens(const Figure& f, const std::string& what) {
  const std::string png = f.png(), svg = f.svg();
  ASSERT_GT(png.size(), 24u) << what;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << what;
  const auto be32 = [&](std::size_t at) {
    return (static_cast<unsigned char>(png[at]) << 24) | (static_cast<unsigned char>(png[at + 1]) << 16) |
           (static_cast<unsigned char>(png[at + 2]) << 8) | static_cast<unsigned char>(png[at + 3]);
  };
  EXPECT_EQ(be32(16), f.width()) << what << ": the PNG's IHDR width";
  EXPECT_EQ(be32(20), f.height()) << what;
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_string(svg.c_str());
  ASSERT_TRUE(parsed) << what << ": the SVG is not XML: " << parsed.description();
  const pugi::xml_node root = doc.child("svg");
  ASSERT_TRUE(root) << what;
  EXPECT_EQ(std::stod(root.attribute("width").value()), f.width()) << what;
  EXPECT_EQ(std::stod(root.attribute("height").value()), f.height()) << what;
}

// Dark pixels in a rectangle of the PNG: something is drawn there (decoded through cairo).
int inked_pixels(const Figure& f, int x0, int y0, int x1, int y1) {
  struct Reader {
    std::string bytes;
    std::size_t at = 0;
  } reader{f.png()};
  cairo_surface_t* s = cairo_image_surface_create_from_png_stream(
      [](void* closure, unsigned char* data, unsigned int length) {
        auto* r = static_cast<Reader*>(closure);
        if (r->at + length > r->bytes.size()) return CAIRO_STATUS_READ_ERROR;
        std::memcpy(data, r->bytes.data() + r->at, length);
        r->at += length;
        return CAIRO_STATUS_SUCCESS;
      },
      &reader);
  int inked = 0;
  const unsigned char* data = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const std::uint32_t p = *reinterpret_cast<const std::uint32_t*>(data + y * stride + 4 * x);
      if (((p >> 16) & 255) + ((p >> 8) & 255) + (p & 255) < 3 * 128) ++inked;
    }
  cairo_surface_destroy(s);
  return inked;
}

TEST(Figures, EveryKindOpensAsPngAndSvgWithItsTitleDrawn) {
  HeatmapGrid g;
  g.title = "Planted title";
  g.row_labels = {"row A"};
  g.column_labels = {"(l, l') = (0, 1)"};
  Eigen::MatrixXd m(4, 4);
  m << 1, 0.5, 0, -0.5, 0.5, 1, std::numeric_limits<double>::quiet_NaN(), 0, 0, 0, 1, 0, -1, 0, 0, 1;
  g.panels = {{m}};
  g.block_labels = {"^", "a"};
  g.x_label = "x axis words";
  g.y_label = "y axis words";
  g.colour_label = "Pearson r";
  g.annotate = true;
  const Figure heatmap = heatmap_grid(g);
  expect_opens(heatmap, "heatmap grid");
  EXPECT_THAT(heatmap.svg(), HasSubstr("data:image/png;base64,")) << "the heatmap body is an image, not a rectangle per cell";
  // The title is drawn (centred in the top 40 px), and nothing is drawn where no text or panel is.
  EXPECT_GT(inked_pixels(heatmap, 0, 0, heatmap.width(), 40), 50);
  EXPECT_EQ(inked_pixels(heatmap, heatmap.width() - 8, 0, heatmap.width(), 8), 0);
  BarChart bars;
  bars.title = "Bars";
  bars.categories = {"intact", "all-off"};
  bars.values = {0.8, 0.1};
  bars.lo = {0.6, 0.0};
  bars.hi = {0.9, 0.3};
  bars.reference_lines = {{0.5, "half"}};
  expect_opens(bar_chart(bars), "bar chart");
  LineChart lines;
  lines.title = "Lines";
  for (int i = 0; i < 12; ++i) lines.series.push_back({"series " + std::to_string(i), {0, 1000, 2000}, {0, 0.5, i / 12.0}});
  expect_opens(line_chart(lines), "line chart");
  // The colour map: -1 blue, 0 white-ish, +1 red, NaN grey.
  EXPECT_GT(diverging(1).r, diverging(1).b);
  EXPECT_GT(diverging(-1).b, diverging(-1).r);
  EXPECT_EQ(diverging(std::numeric_limits<double>::quiet_NaN()), kGrey);
  EXPECT_EQ(base64("Man"), "TWFu");
  EXPECT_EQ(base64("Ma"), "TWE=");
}

// The residual sweep's Pearson grid was 72 MB as SVG (one image pixel per unit pair of 84 panels).
// The same grid now stays under 2 MB in both formats: matrices beyond their share of the pixel
// budget are drawn as block means, and the figure says so.
TEST(Figures, APearsonGridOfTheResidualSweepsSizeStaysUnderTwoMegabytes) {
  HeatmapGrid g;
  g.title = "Pearson correlation between layers, one seed per condition (trained)";
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> noise(-1, 1);
  const int n = 12 * 48;  // 12 positions × d_model 48
  for (int r = 0; r < 12; ++r) {
    g.row_labels.push_back("condition-" + std::to_string(r));
    std::vector<Eigen::MatrixXd> row;
    for (int c = 0; c < 7; ++c) row.push_back(Eigen::MatrixXd::NullaryExpr(n, n, [&] { return noise(rng); }));
    g.panels.push_back(std::move(row));
  }
  for (int c = 0; c < 7; ++c) g.column_labels.push_back("(" + std::to_string(c) + ", " + std::to_string(c + 1) + ")");
  for (int k = 0; k < 12; ++k) g.block_labels.push_back(std::string(1, static_cast<char>('a' + k)));
  g.panel_pixels = 260;
  const Figure f = heatmap_grid(g);
  const std::string svg = f.svg(), png = f.png();
  EXPECT_LE(svg.size(), 2u << 20) << "SVG bytes";
  EXPECT_LE(png.size(), 2u << 20) << "PNG bytes";
  // Random noise is the worst case for compression; say how large it came out.
  std::cout << "Pearson grid of 84 panels of 576×576: SVG " << svg.size() / 1024 << " KiB, PNG " << png.size() / 1024 << " KiB\n";
}

// Twelve series (the residual sweep's conditions) are all distinct in colour or dash, and two series
// that share a colour never share a dash.
TEST(Figures, TwelveSeriesAreTellApartByColourAndDash) {
  for (int i = 0; i < 30; ++i)
    for (int j = i + 1; j < 30; ++j) {
      const SeriesStyle a = series_style(i), b = series_style(j);
      EXPECT_FALSE(a.colour == b.colour && a.dash == b.dash) << "series " << i << " and " << j;
    }
  EXPECT_NE(series_style(0).dash, series_style(10).dash) << "the first repeated colour comes with another dash";
}

// Ticks sit on round values: multiples of 1, 2 or 5 × 10^k (the residual curves' axis once read
// 250, 1560, 2870).
TEST(Figures, TicksSitOnRoundValues) {
  EXPECT_EQ(nice_ticks(250, 6800), (std::vector<double>{1000, 2000, 3000, 4000, 5000, 6000}));
  EXPECT_EQ(nice_ticks(0, 1), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1}));
  EXPECT_EQ(nice_ticks(-1, 1), (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
  for (const auto& [lo, hi] : std::vector<std::pair<double, double>>{{0, 20000}, {-0.37, 4.2}, {0.001, 0.0042}, {3, 3.5}}) {
    const std::vector<double> t = nice_ticks(lo, hi);
    ASSERT_GE(t.size(), 2u) << lo << ".." << hi;
    const double step = t[1] - t[0], magnitude = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    const double mantissa = step / magnitude;
    EXPECT_TRUE(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9)
        << lo << ".." << hi << ": step " << step;
    for (double v : t) {
      EXPECT_GE(v, lo - 1e-12);
      EXPECT_LE(v, hi + 1e-12);
      EXPECT_NEAR(std::remainder(v, step), 0, 1e-9 * step) << v;
    }
  }
  EXPECT_EQ(tick_text(0.6, 0.2), "0.6");
  EXPECT_EQ(tick_text(2000, 1000), "2000");
  EXPECT_EQ(tick_text(0.25, 0.05), "0.25");
}

// A sweep with two conditions once drew "vergence per condition: residual-qu": the title, centred
// at twice the font size, was wider than a two-bar chart. Every figure kind must fit its title.
TEST(Figures, ALongTitleIsNeverClipped) {
  const std::string title = "Convergence per condition: a plan with a rather long descriptive name";
  const int needed = Figure::text_width(title, 2);
  BarChart bars;
  bars.title = title;
  bars.categories = {"intact", "all-off"};
  bars.values = {1, 0};
  EXPECT_GT(bar_chart(bars).width(), needed);
  LineChart lines;
  lines.title = title + ", and the learning curves of every seed of every condition in it";
  lines.series = {{"intact", {0, 1}, {0, 1}}};
  EXPECT_GT(line_chart(lines).width(), Figure::text_width(lines.title, 2));
  HeatmapGrid grid;
  grid.title = title;
  grid.panels = {{Eigen::MatrixXd::Identity(2, 2)}};
  grid.block_labels = {"a", "b"};
  EXPECT_GT(heatmap_grid(grid).width(), needed);
}

}  // namespace
}  // namespace symbreak::experiments
