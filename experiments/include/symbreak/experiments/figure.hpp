// Figures for reviewers: one drawing, written as SVG (vector text and axes, heatmap bodies as
// embedded images) and as PNG (libpng, text from the public-domain 6x13 X11 font). Every chart has
// a title, labelled axes and, where colour carries a value, a colour bar.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Dense>

namespace symbreak::experiments {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kBlack{0, 0, 0}, kWhite{255, 255, 255}, kGrey{160, 160, 160}, kLightGrey{225, 225, 225};

// Colour maps. diverging: ColorBrewer RdBu reversed, -1 blue, 0 white, +1 red (clamped).
// sequential: ColorBrewer YlGnBu-like, 0 light to 1 dark. NaN (undefined) is mid grey in both.
Rgb diverging(double value);
Rgb sequential(double value);
// A categorical palette for series (ColorBrewer Dark2), cycling.
Rgb series_colour(int index);

struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // row-major, 3 bytes per pixel
  Image() = default;
  Image(int w, int h, Rgb fill = kWhite);
  void set(int x, int y, Rgb c);
  Rgb get(int x, int y) const;
};

std::string png_bytes(const Image& image);  // throws std::runtime_error if libpng fails
std::string base64(std::string_view bytes);

enum class Anchor { start, middle, end };

// A drawing in pixel coordinates (origin top left). Text is UTF-8; in the PNG only the font's glyphs
// (ASCII and the few symbols the figures use) are drawn, others as '?'.
class Figure {
 public:
  Figure(int width, int height);
  int width() const { return width_; }
  int height() const { return height_; }

  void fill_rect(double x, double y, double w, double h, Rgb colour);
  void stroke_rect(double x, double y, double w, double h, Rgb colour);
  void line(double x0, double y0, double x1, double y1, Rgb colour, double thickness = 1);
  // scale 1 is 13 px high (labels), 2 is 26 px (titles). vertical: rotated 90° counter-clockwise.
  void text(double x, double y, std::string_view utf8, Rgb colour = kBlack, Anchor anchor = Anchor::start, int scale = 1,
            bool vertical = false);
  // An image drawn into the rectangle (nearest-neighbour in the PNG, pixelated in the SVG).
  void image(double x, double y, double w, double h, const Image& image);

  std::string svg() const;
  Image raster() const;
  // Writes both files atomically: <stem>.svg and <stem>.png.
  void save(const std::string& stem) const;

  static int text_width(std::string_view utf8, int scale = 1);

 private:
  struct Op {
    enum Kind { fill, stroke, segment, label, picture } kind = fill;
    double x = 0, y = 0, w = 0, h = 0;  // a segment keeps its end point in (w, h)
    Rgb colour;
    double thickness = 1;
    std::string text;
    Anchor anchor = Anchor::start;
    int scale = 1;
    bool vertical = false;
    int image_index = -1;
  };
  static Op shape(Op::Kind kind, double x, double y, double w, double h, Rgb colour);
  int width_, height_;
  std::vector<Op> ops_;
  std::vector<Image> images_;
};

// A grid of matrix heatmaps sharing one colour scale: rows × columns panels, each a matrix.
struct HeatmapGrid {
  std::string title;
  std::vector<std::string> row_labels;               // one per row of panels (e.g. the condition)
  std::vector<std::string> column_labels;            // one per column of panels (e.g. "(l, l') = (0, 1)")
  std::vector<std::vector<Eigen::MatrixXd>> panels;  // [row][column]; an empty matrix leaves a blank
  // Tick labels along each panel's axes: the matrix is divided into equal blocks (one per label),
  // with a thin line between blocks. Empty: no ticks.
  std::vector<std::string> block_labels;
  std::string x_label, y_label;  // under and left of the panels
  std::string colour_label;      // beside the colour bar
  bool diverging = true;         // diverging on [-1, 1], else sequential on [lo, hi]
  double lo = -1, hi = 1;
  int panel_pixels = 300;  // each panel's side
  bool annotate = false;   // print each cell's value (small matrices only)
};
Figure heatmap_grid(const HeatmapGrid& spec);

// Bars with interval whiskers (rates with Wilson intervals, for example).
struct BarChart {
  std::string title, x_label, y_label;
  std::vector<std::string> categories;
  std::vector<double> values, lo, hi;  // lo/hi may be empty (no whiskers)
  std::vector<Rgb> colours;            // per bar; empty: one colour
  double y_min = 0, y_max = 1;
  std::vector<std::pair<double, std::string>> reference_lines;  // horizontal lines with a label
};
Figure bar_chart(const BarChart& spec);

// Lines over a shared x axis (learning curves, for example).
struct LineChart {
  std::string title, x_label, y_label;
  struct Series {
    std::string name;
    std::vector<double> x, y;
  };
  std::vector<Series> series;
  double y_min = 0, y_max = 1;
  std::vector<std::pair<double, std::string>> reference_lines;
};
Figure line_chart(const LineChart& spec);

}  // namespace symbreak::experiments
