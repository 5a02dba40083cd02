// Figures for reviewers: one drawing, rendered by cairo as SVG (vector lines, text as glyph outlines
// in DejaVu Sans, heatmap bodies as embedded images) and as PNG. Every chart has a title, labelled
// axes and, where colour carries a value, a colour bar.
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

// How series `index` of a chart is drawn: a colour of the Tableau 10 palette and one of three dash
// patterns (solid, dashed, dotted). Colour and dash cycle with coprime periods 10 and 3, so the first
// 30 series all differ, and two series of the same colour always differ in dash.
struct SeriesStyle {
  Rgb colour;
  std::vector<double> dash;  // on/off lengths in px; empty: solid
};
SeriesStyle series_style(int index);

// Round tick values covering [lo, hi]: multiples of 1, 2 or 5 × 10^k, about `target` of them
// (Heckbert's nice numbers). Always at least two ticks for a non-empty range.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// A tick's text: the shortest form that tells it from its neighbours ("0.25", "2000", "1e+05").
std::string tick_text(double value, double step);

struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // row-major, 3 bytes per pixel
  Image() = default;
  Image(int w, int h, Rgb fill = kWhite);
  void set(int x, int y, Rgb c);
  Rgb get(int x, int y) const;
};

// RFC 4648 base64 (data: URLs in the report).
std::string base64(std::string_view bytes);

enum class Anchor { start, middle, end };

// A drawing in pixel coordinates (origin top left), recorded and then rendered by cairo. Text is UTF-8
// in DejaVu Sans (fonts-dejavu-core).
class Figure {
 public:
  Figure(int width, int height);
  int width() const { return width_; }
  int height() const { return height_; }

  void fill_rect(double x, double y, double w, double h, Rgb colour);
  void stroke_rect(double x, double y, double w, double h, Rgb colour);
  void line(double x0, double y0, double x1, double y1, Rgb colour, double thickness = 1, std::vector<double> dash = {});
  // A polyline through the points (xs[i], ys[i]).
  void polyline(const std::vector<double>& xs, const std::vector<double>& ys, Rgb colour, double thickness = 1,
                std::vector<double> dash = {});
  // (x, y) is the top left of the text box for Anchor::start (top centre, top right for the others).
  // scale 1: labels (12 px), 2: titles (18 px, bold). vertical: rotated 90° counter-clockwise, the
  // text running upwards from y.
  void text(double x, double y, std::string_view utf8, Rgb colour = kBlack, Anchor anchor = Anchor::start, int scale = 1,
            bool vertical = false);
  // An image drawn into the rectangle, each pixel a sharp square (nearest neighbour).
  void image(double x, double y, double w, double h, const Image& image);

  std::string svg() const;  // a standalone SVG document (throws std::runtime_error if cairo fails)
  std::string png() const;  // PNG bytes
  // Writes both files atomically: <stem>.svg and <stem>.png.
  void save(const std::string& stem) const;

  static double text_width(std::string_view utf8, int scale = 1);

 private:
  struct Op {
    enum Kind { fill, stroke, path, label, picture } kind = fill;
    double x = 0, y = 0, w = 0, h = 0;
    std::vector<double> xs, ys;  // a path's points
    std::vector<double> dash;
    Rgb colour;
    double thickness = 1;
    std::string text;
    Anchor anchor = Anchor::start;
    int scale = 1;
    bool vertical = false;
    int image_index = -1;
  };
  static Op shape(Op::Kind kind, double x, double y, double w, double h, Rgb colour);
  void paint(void* cairo_context) const;  // replays the drawing (a cairo_t*)
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
  // The most image pixels all panels together may carry (the file size follows it): a matrix larger
  // than its share is shown as means over square blocks of cells, and the figure says so.
  long max_image_pixels = 400'000;
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
  std::vector<Series> series;  // drawn in series_style(i)
  double y_min = 0, y_max = 1;
  std::vector<std::pair<double, std::string>> reference_lines;
};
Figure line_chart(const LineChart& spec);

}  // namespace symbreak::experiments
