#include "symbreak/experiments/figure.hpp"

#include <png.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "symbreak/io.hpp"
#include "symbreak/text.hpp"

namespace symbreak::experiments {
namespace {

struct Glyph {
  char32_t code;
  std::array<std::uint8_t, 13> rows;
};
constexpr Glyph kFont[] = {
#include "figure_font.inc"
};
constexpr int kGlyphW = 6, kGlyphH = 13;

const std::array<std::uint8_t, 13>& glyph(char32_t c) {
  static const std::map<char32_t, const std::array<std::uint8_t, 13>*> index = [] {
    std::map<char32_t, const std::array<std::uint8_t, 13>*> m;
    for (const Glyph& g : kFont) m[g.code] = &g.rows;
    return m;
  }();
  const auto it = index.find(c);
  return it != index.end() ? *it->second : *index.at(U'?');
}

std::u32string utf32(std::string_view s) {
  std::u32string out;
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string hex_colour(Rgb c) {
  char b[8];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", c.r, c.g, c.b);
  return b;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  std::string s = b;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

Rgb mix(Rgb a, Rgb b, double t) {
  const auto m = [t](std::uint8_t x, std::uint8_t y) { return static_cast<std::uint8_t>(std::lround(x + (y - x) * t)); };
  return {m(a.r, b.r), m(a.g, b.g), m(a.b, b.b)};
}

Rgb ramp(const std::vector<Rgb>& stops, double t) {
  t = std::clamp(t, 0.0, 1.0) * static_cast<double>(stops.size() - 1);
  const std::size_t i = std::min(static_cast<std::size_t>(t), stops.size() - 2);
  return mix(stops[i], stops[i + 1], t - static_cast<double>(i));
}

// "0.25" style tick text with up to two decimals.
std::string tick(double v) { return num(std::abs(v) < 1e-12 ? 0.0 : v); }

}  // namespace

Rgb diverging(double v) {
  if (std::isnan(v)) return kGrey;
  // ColorBrewer RdBu (11 classes), from blue (-1) to red (+1).
  static const std::vector<Rgb> stops = {{5, 48, 97},     {33, 102, 172},  {67, 147, 195},  {146, 197, 222},
                                         {209, 229, 240}, {247, 247, 247}, {253, 219, 199}, {244, 165, 130},
                                         {214, 96, 77},   {178, 24, 43},   {103, 0, 31}};
  return ramp(stops, (v + 1) / 2);
}

Rgb sequential(double v) {
  if (std::isnan(v)) return kGrey;
  // ColorBrewer YlGnBu (9 classes).
  static const std::vector<Rgb> stops = {{255, 255, 217}, {237, 248, 177}, {199, 233, 180}, {127, 205, 187}, {65, 182, 196},
                                         {29, 145, 192},  {34, 94, 168},   {37, 52, 148},   {8, 29, 88}};
  return ramp(stops, v);
}

Rgb series_colour(int i) {
  static const Rgb dark2[] = {{27, 158, 119}, {217, 95, 2},  {117, 112, 179}, {231, 41, 138},
                              {102, 166, 30}, {230, 171, 2}, {166, 118, 29},  {102, 102, 102}};
  return dark2[((i % 8) + 8) % 8];
}

Image::Image(int w, int h, Rgb fill) : width(w), height(h), rgb(static_cast<std::size_t>(w) * h * 3) {
  for (std::size_t i = 0; i < rgb.size(); i += 3) {
    rgb[i] = fill.r;
    rgb[i + 1] = fill.g;
    rgb[i + 2] = fill.b;
  }
}

void Image::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * width + x) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

Rgb Image::get(int x, int y) const {
  const std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * width + x) * 3];
  return {p[0], p[1], p[2]};
}

std::string png_bytes(const Image& image) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (!png) throw std::runtime_error("libpng: cannot create a writer");
  png_infop info = png_create_info_struct(png);
  std::string out;
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    throw std::runtime_error("libpng: cannot encode the image");
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), n);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y)
    png_write_row(png, const_cast<png_bytep>(&image.rgb[static_cast<std::size_t>(y) * image.width * 3]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::string base64(std::string_view bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t a = static_cast<unsigned char>(bytes[i]);
    const std::uint32_t b = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0;
    const std::uint32_t c = i + 2 < bytes.size() ? static_cast<unsigned char>(bytes[i + 2]) : 0;
    const std::uint32_t v = (a << 16) | (b << 8) | c;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? table[v & 63] : '=';
  }
  return out;
}

Figure::Figure(int width, int height) : width_(width), height_(height) {}

void Figure::fill_rect(double x, double y, double w, double h, Rgb c) { ops_.push_back(shape(Op::fill, x, y, w, h, c)); }
void Figure::stroke_rect(double x, double y, double w, double h, Rgb c) { ops_.push_back(shape(Op::stroke, x, y, w, h, c)); }
void Figure::line(double x0, double y0, double x1, double y1, Rgb c, double thickness) {
  Op op = shape(Op::segment, x0, y0, x1, y1, c);
  op.thickness = thickness;
  ops_.push_back(op);
}
void Figure::text(double x, double y, std::string_view s, Rgb c, Anchor anchor, int scale, bool vertical) {
  Op op = shape(Op::label, x, y, 0, 0, c);
  op.text = std::string(s);
  op.anchor = anchor;
  op.scale = scale;
  op.vertical = vertical;
  ops_.push_back(op);
}
void Figure::image(double x, double y, double w, double h, const Image& img) {
  Op op = shape(Op::picture, x, y, w, h, kBlack);
  op.image_index = static_cast<int>(images_.size());
  images_.push_back(img);
  ops_.push_back(op);
}

Figure::Op Figure::shape(Op::Kind kind, double x, double y, double w, double h, Rgb colour) {
  Op op;
  op.kind = kind;
  op.x = x, op.y = y, op.w = w, op.h = h;
  op.colour = colour;
  return op;
}

int Figure::text_width(std::string_view s, int scale) { return static_cast<int>(utf32(s).size()) * kGlyphW * scale; }

std::string Figure::svg() const {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width_) + "\" height=\"" +
                  std::to_string(height_) + "\" viewBox=\"0 0 " + std::to_string(width_) + " " + std::to_string(height_) +
                  "\" font-family=\"DejaVu Sans Mono, monospace\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  char b[512];
  for (const Op& op : ops_) {
    switch (op.kind) {
      case Op::fill:
        std::snprintf(b, sizeof b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n", op.x, op.y, op.w,
                      op.h, hex_colour(op.colour).c_str());
        s += b;
        break;
      case Op::stroke:
        std::snprintf(b, sizeof b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"%s\"/>\n",
                      op.x + 0.5, op.y + 0.5, op.w - 1, op.h - 1, hex_colour(op.colour).c_str());
        s += b;
        break;
      case Op::segment:
        std::snprintf(b, sizeof b,
                      "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"%.2f\"/>\n", op.x + 0.5,
                      op.y + 0.5, op.w + 0.5, op.h + 0.5, hex_colour(op.colour).c_str(), op.thickness);
        s += b;
        break;
      case Op::label: {
        const char* anchor = op.anchor == Anchor::start ? "start" : op.anchor == Anchor::middle ? "middle" : "end";
        // The raster font's cell is 13 px with the baseline at 11: y is the top of the text.
        const double size = 11.0 * op.scale;
        if (op.vertical)
          std::snprintf(b, sizeof b,
                        "<text transform=\"translate(%.2f %.2f) rotate(-90)\" font-size=\"%.1f\" text-anchor=\"%s\" fill=\"%s\">",
                        op.x + 11.0 * op.scale, op.y, size, anchor, hex_colour(op.colour).c_str());
        else
          std::snprintf(b, sizeof b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" text-anchor=\"%s\" fill=\"%s\">", op.x,
                        op.y + 11.0 * op.scale, size, anchor, hex_colour(op.colour).c_str());
        s += b;
        s += text::escape_markup(op.text) + "</text>\n";
        break;
      }
      case Op::picture:
        std::snprintf(b, sizeof b,
                      "<image x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" preserveAspectRatio=\"none\" "
                      "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,",
                      op.x, op.y, op.w, op.h);
        s += b;
        s += base64(png_bytes(images_[static_cast<std::size_t>(op.image_index)])) + "\"/>\n";
        break;
    }
  }
  return s + "</svg>\n";
}

Image Figure::raster() const {
  Image img(width_, height_);
  const auto px = [](double v) { return static_cast<int>(std::lround(v)); };
  for (const Op& op : ops_) {
    switch (op.kind) {
      case Op::fill:
        for (int y = px(op.y); y < px(op.y + op.h); ++y)
          for (int x = px(op.x); x < px(op.x + op.w); ++x) img.set(x, y, op.colour);
        break;
      case Op::stroke: {
        const int x0 = px(op.x), y0 = px(op.y), x1 = px(op.x + op.w) - 1, y1 = px(op.y + op.h) - 1;
        for (int x = x0; x <= x1; ++x) img.set(x, y0, op.colour), img.set(x, y1, op.colour);
        for (int y = y0; y <= y1; ++y) img.set(x0, y, op.colour), img.set(x1, y, op.colour);
        break;
      }
      case Op::segment: {
        const double dx = op.w - op.x, dy = op.h - op.y;
        const int steps = std::max(1, static_cast<int>(std::ceil(std::max(std::abs(dx), std::abs(dy)))));
        const int t = std::max(1, px(op.thickness));
        for (int i = 0; i <= steps; ++i) {
          const int x = px(op.x + dx * i / steps), y = px(op.y + dy * i / steps);
          for (int a = 0; a < t; ++a)
            for (int c = 0; c < t; ++c) img.set(x + a - t / 2, y + c - t / 2, op.colour);
        }
        break;
      }
      case Op::label: {
        const std::u32string chars = utf32(op.text);
        const int w = static_cast<int>(chars.size()) * kGlyphW * op.scale;
        const int shift = op.anchor == Anchor::start ? 0 : op.anchor == Anchor::middle ? w / 2 : w;
        for (std::size_t k = 0; k < chars.size(); ++k) {
          const auto& rows = glyph(chars[k]);
          for (int gy = 0; gy < kGlyphH; ++gy)
            for (int gx = 0; gx < kGlyphW; ++gx) {
              if (!((rows[gy] << gx) & 0x80)) continue;
              for (int sy = 0; sy < op.scale; ++sy)
                for (int sx = 0; sx < op.scale; ++sx) {
                  const int u = static_cast<int>(k) * kGlyphW * op.scale + gx * op.scale + sx - shift;  // along the text
                  const int v = gy * op.scale + sy;                                                     // across it
                  if (op.vertical) img.set(px(op.x) + v, px(op.y) - u, op.colour);
                  else img.set(px(op.x) + u, px(op.y) + v, op.colour);
                }
            }
        }
        break;
      }
      case Op::picture: {
        const Image& src = images_[static_cast<std::size_t>(op.image_index)];
        const int x0 = px(op.x), y0 = px(op.y), w = px(op.w), h = px(op.h);
        // Area average when shrinking (keeps fine structure visible as tone), nearest when enlarging.
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) {
            const int sx0 = x * src.width / w, sx1 = std::max(sx0 + 1, (x + 1) * src.width / w);
            const int sy0 = y * src.height / h, sy1 = std::max(sy0 + 1, (y + 1) * src.height / h);
            double r = 0, g = 0, bl = 0;
            int n = 0;
            for (int sy = sy0; sy < sy1; ++sy)
              for (int sx = sx0; sx < sx1; ++sx) {
                const Rgb c = src.get(sx, sy);
                r += c.r, g += c.g, bl += c.b, ++n;
              }
            img.set(x0 + x, y0 + y,
                    {static_cast<std::uint8_t>(r / n + 0.5), static_cast<std::uint8_t>(g / n + 0.5),
                     static_cast<std::uint8_t>(bl / n + 0.5)});
          }
        break;
      }
    }
  }
  return img;
}

void Figure::save(const std::string& stem) const {
  write_file_atomically(stem + ".svg", svg());
  write_file_atomically(stem + ".png", png_bytes(raster()));
}

namespace {

// A vertical colour bar at (x, y) of height h with ticks and a rotated label.
void colour_bar(Figure& f, double x, double y, double h, bool div, double lo, double hi, const std::string& label) {
  const int steps = 200;
  Image bar(1, steps);
  for (int i = 0; i < steps; ++i) {
    const double v = hi - (hi - lo) * (i + 0.5) / steps;
    bar.set(0, i, div ? diverging(v) : sequential((v - lo) / (hi - lo)));
  }
  f.image(x, y, 16, h, bar);
  f.stroke_rect(x, y, 16, h, kBlack);
  for (int k = 0; k <= 4; ++k) {
    const double v = hi - (hi - lo) * k / 4.0, ty = y + h * k / 4.0;
    f.line(x + 16, ty, x + 20, ty, kBlack);
    f.text(x + 23, ty - 6, tick(v));
  }
  f.text(x + 60, y + h / 2 + Figure::text_width(label) / 2.0, label, kBlack, Anchor::start, 1, true);
}

// Every figure centres its title at twice the font size; a figure narrower than that clips it.
int widened_for_title(int width, const std::string& title) { return std::max(width, Figure::text_width(title, 2) + 40); }

}  // namespace

Figure heatmap_grid(const HeatmapGrid& spec) {
  const int rows = static_cast<int>(spec.panels.size());
  int cols = 0;  // rows may hold fewer panels than others; the missing ones stay blank
  for (const auto& row : spec.panels) cols = std::max(cols, static_cast<int>(row.size()));
  int row_label_w = 0;
  for (const auto& l : spec.row_labels) row_label_w = std::max(row_label_w, Figure::text_width(l));
  const int tick_w = [&] {
    int w = 0;
    for (const auto& l : spec.block_labels) w = std::max(w, Figure::text_width(l));
    return w;
  }();
  const int P = spec.panel_pixels, gap = 18 + tick_w;
  const int left = 30 + row_label_w + 14 + tick_w, top = 60;
  const int width = widened_for_title(left + cols * (P + gap) + 100, spec.title);
  const int height = top + rows * (P + gap + 16) + 40;
  Figure f(width, height);
  f.text(width / 2.0, 12, spec.title, kBlack, Anchor::middle, 2);
  for (int c = 0; c < cols; ++c)
    if (c < static_cast<int>(spec.column_labels.size()))
      f.text(left + c * (P + gap) + P / 2.0, top - 18, spec.column_labels[c], kBlack, Anchor::middle);
  for (int r = 0; r < rows; ++r) {
    const double py = top + r * (P + gap + 16);
    if (r < static_cast<int>(spec.row_labels.size())) f.text(30, py + P / 2.0 - 6, spec.row_labels[r]);
    for (int c = 0; c < static_cast<int>(spec.panels[r].size()); ++c) {
      const Eigen::MatrixXd& m = spec.panels[r][c];
      const double px = left + c * (P + gap);
      if (m.size() == 0) continue;
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
        if (k > 0 && m.rows() > blocks) {
          f.line(px + a, py, px + a, py + P, kBlack);
          f.line(px, py + a, px + P, py + a, kBlack);
        }
        f.text(px + mid, py + P + 3, spec.block_labels[k], kBlack, Anchor::middle);
        if (c == 0) f.text(px - 4, py + mid - 6, spec.block_labels[k], kBlack, Anchor::end);
      }
      if (spec.annotate && m.rows() * m.cols() <= 400) {
        for (Eigen::Index i = 0; i < m.rows(); ++i)
          for (Eigen::Index j = 0; j < m.cols(); ++j) {
            const double v = m(i, j);
            if (std::isnan(v)) continue;
            const double t = spec.diverging ? std::abs(v) : (v - spec.lo) / (spec.hi - spec.lo);
            char b[16];
            std::snprintf(b, sizeof b, "%.2f", v);
            f.text(px + P * (j + 0.5) / m.cols(), py + P * (i + 0.5) / m.rows() - 6, std::string(b).substr(v < 0 ? 0 : 1),
                   t > 0.6 ? kWhite : kBlack, Anchor::middle);
          }
      }
      f.stroke_rect(px, py, P, P, kBlack);
    }
  }
  f.text(left + (cols * (P + gap) - gap) / 2.0, height - 22, spec.x_label, kBlack, Anchor::middle);
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

Axes draw_axes(Figure& f, const std::string& title, const std::string& x_label, const std::string& y_label, double y_min,
               double y_max, int bottom_margin) {
  const Axes a{80, 50, f.width() - 110.0, f.height() - 50.0 - bottom_margin, y_min, y_max};
  f.text(f.width() / 2.0, 10, title, kBlack, Anchor::middle, 2);
  for (int k = 0; k <= 5; ++k) {
    const double v = y_min + (y_max - y_min) * k / 5.0, ty = a.to_y(v);
    f.line(a.x, ty, a.x + a.w, ty, kLightGrey);
    f.line(a.x - 4, ty, a.x, ty, kBlack);
    f.text(a.x - 7, ty - 6, tick(v), kBlack, Anchor::end);
  }
  f.line(a.x, a.y, a.x, a.y + a.h, kBlack);
  f.line(a.x, a.y + a.h, a.x + a.w, a.y + a.h, kBlack);
  f.text(14, a.y + a.h / 2 + Figure::text_width(y_label) / 2.0, y_label, kBlack, Anchor::start, 1, true);
  f.text(a.x + a.w / 2, f.height() - 20.0, x_label, kBlack, Anchor::middle);
  return a;
}

void reference_lines(Figure& f, const Axes& a, const std::vector<std::pair<double, std::string>>& lines) {
  for (const auto& [v, label] : lines) {
    const double y = a.to_y(v);
    for (double x = a.x; x < a.x + a.w; x += 8) f.line(x, y, std::min(x + 4, a.x + a.w), y, {200, 0, 0});
    f.text(a.x + a.w - 4, y - 15, label, {200, 0, 0}, Anchor::end);
  }
}

}  // namespace

Figure bar_chart(const BarChart& spec) {
  const int n = static_cast<int>(spec.categories.size());
  int longest = 0;
  for (const auto& c : spec.categories) longest = std::max(longest, Figure::text_width(c));
  const bool rotate = longest > 60;
  Figure f(widened_for_title(std::max(420, 110 + n * 56), spec.title), 380 + (rotate ? longest : 0));
  const Axes a = draw_axes(f, spec.title, spec.x_label, spec.y_label, spec.y_min, spec.y_max, 60 + (rotate ? longest : 0));
  const double slot = a.w / std::max(1, n);
  for (int i = 0; i < n; ++i) {
    const double cx = a.x + slot * (i + 0.5), bw = slot * 0.6;
    const Rgb colour = spec.colours.empty() ? series_colour(0) : spec.colours[static_cast<std::size_t>(i) % spec.colours.size()];
    const double v = spec.values[i];
    if (!std::isnan(v)) f.fill_rect(cx - bw / 2, a.to_y(v), bw, a.to_y(spec.y_min) - a.to_y(v), colour);
    if (!spec.lo.empty() && !std::isnan(spec.lo[i])) {
      const double ylo = a.to_y(spec.lo[i]), yhi = a.to_y(spec.hi[i]);
      f.line(cx, ylo, cx, yhi, kBlack, 2);
      f.line(cx - 6, ylo, cx + 6, ylo, kBlack, 2);
      f.line(cx - 6, yhi, cx + 6, yhi, kBlack, 2);
    }
    if (rotate)
      f.text(cx - 6, a.y + a.h + 6 + Figure::text_width(spec.categories[i]), spec.categories[i], kBlack, Anchor::start, 1, true);
    else f.text(cx, a.y + a.h + 6, spec.categories[i], kBlack, Anchor::middle);
  }
  reference_lines(f, a, spec.reference_lines);
  return f;
}

Figure line_chart(const LineChart& spec) {
  const int legend_rows = static_cast<int>((spec.series.size() + 2) / 3);
  Figure f(widened_for_title(760, spec.title), 420 + 16 * legend_rows);
  const Axes a = draw_axes(f, spec.title, spec.x_label, spec.y_label, spec.y_min, spec.y_max, 60 + 16 * legend_rows);
  double x_min = INFINITY, x_max = -INFINITY;
  for (const auto& s : spec.series)
    for (double x : s.x) x_min = std::min(x_min, x), x_max = std::max(x_max, x);
  if (!(x_max > x_min)) x_min = 0, x_max = std::max(1.0, x_max);
  const auto to_x = [&](double v) { return a.x + (v - x_min) / (x_max - x_min) * a.w; };
  for (int k = 0; k <= 5; ++k) {
    const double v = x_min + (x_max - x_min) * k / 5.0;
    f.line(to_x(v), a.y + a.h, to_x(v), a.y + a.h + 4, kBlack);
    char b[32];
    std::snprintf(b, sizeof b, "%.0f", v);
    f.text(to_x(v), a.y + a.h + 6, b, kBlack, Anchor::middle);
  }
  reference_lines(f, a, spec.reference_lines);
  for (std::size_t i = 0; i < spec.series.size(); ++i) {
    const auto& s = spec.series[i];
    const Rgb c = series_colour(static_cast<int>(i));
    for (std::size_t k = 1; k < s.x.size(); ++k) f.line(to_x(s.x[k - 1]), a.to_y(s.y[k - 1]), to_x(s.x[k]), a.to_y(s.y[k]), c, 2);
    const double lx = a.x + (i % 3) * (a.w / 3), ly = a.y + a.h + 24 + 16.0 * static_cast<double>(i / 3);
    f.line(lx, ly + 6, lx + 18, ly + 6, c, 3);
    f.text(lx + 24, ly, s.name);
  }
  return f;
}

}  // namespace symbreak::experiments
