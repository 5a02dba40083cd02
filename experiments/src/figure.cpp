#include "symbreak/experiments/figure.hpp"

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "symbreak/io.hpp"

namespace symbreak::experiments {
namespace {

Rgb mix(Rgb a, Rgb b, double t) {
  const auto m = [t](std::uint8_t x, std::uint8_t y) { return static_cast<std::uint8_t>(std::lround(x + (y - x) * t)); };
  return {m(a.r, b.r), m(a.g, b.g), m(a.b, b.b)};
}

Rgb ramp(const std::vector<Rgb>& stops, double t) {
  t = std::clamp(t, 0.0, 1.0) * static_cast<double>(stops.size() - 1);
  const std::size_t i = std::min(static_cast<std::size_t>(t), stops.size() - 2);
  return mix(stops[i], stops[i + 1], t - static_cast<double>(i));
}

// ---- cairo ------------------------------------------------------------------------------------------

using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using Context = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

constexpr const char* kFont = "DejaVu Sans";  // fonts-dejavu-core
double font_size(int scale) { return scale >= 2 ? 18.0 : 12.0; }

void select_font(cairo_t* cr, int scale) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL, scale >= 2 ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, font_size(scale));
}

void set_colour(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0); }

void check(cairo_status_t status, const char* what) {
  if (status != CAIRO_STATUS_SUCCESS) throw std::runtime_error(std::string("cairo: ") + what + ": " + cairo_status_to_string(status));
}

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

// The image as a cairo surface (cairo's RGB24 is a native-endian 0x00RRGGBB word per pixel).
Surface image_surface(const Image& img) {
  Surface s(cairo_image_surface_create(CAIRO_FORMAT_RGB24, img.width, img.height), cairo_surface_destroy);
  check(cairo_surface_status(s.get()), "an image surface");
  cairo_surface_flush(s.get());
  unsigned char* data = cairo_image_surface_get_data(s.get());
  const int stride = cairo_image_surface_get_stride(s.get());
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const Rgb c = img.get(x, y);
      *reinterpret_cast<std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride + 4 * x) =
          (std::uint32_t{c.r} << 16) | (std::uint32_t{c.g} << 8) | c.b;
    }
  cairo_surface_mark_dirty(s.get());
  return s;
}

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

SeriesStyle series_style(int i) {
  // Tableau 10 (the default qualitative palette of matplotlib and Vega).
  static const Rgb tableau10[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},   {148, 103, 189},
                                  {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  static const std::vector<double> dashes[] = {{}, {9, 4}, {2, 3}};
  const int k = std::abs(i);
  return {tableau10[k % 10], dashes[k % 3]};
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  const double mantissa = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10, step = mantissa * magnitude;
  // k · mantissa / 10^d for a step below 1, so that 3 × 0.2 is the double nearest 0.6.
  const double inverse = magnitude < 1 ? std::round(1 / magnitude) : 0;
  const auto value = [&](double k) { return inverse > 0 ? k * mantissa / inverse : k * step; };
  std::vector<double> ticks;
  for (double k = std::ceil(lo / step - 1e-9); value(k) <= hi + 1e-9 * step; k += 1) ticks.push_back(value(k) == 0 ? 0.0 : value(k));
  if (ticks.size() < 2) ticks = {lo, hi};
  return ticks;
}

std::string tick_text(double v, double step) {
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(std::abs(step)) - 1e-9)));
  if (std::abs(v) >= 1e6) return fmt::format("{:g}", v);
  return fmt::format("{:.{}f}", v, decimals);
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

// ---- the drawing ------------------------------------------------------------------------------------

Figure::Figure(int width, int height) : width_(width), height_(height) {}

void Figure::fill_rect(double x, double y, double w, double h, Rgb c) { ops_.push_back(shape(Op::fill, x, y, w, h, c)); }
void Figure::stroke_rect(double x, double y, double w, double h, Rgb c) { ops_.push_back(shape(Op::stroke, x, y, w, h, c)); }

void Figure::line(double x0, double y0, double x1, double y1, Rgb c, double thickness, std::vector<double> dash) {
  polyline({x0, x1}, {y0, y1}, c, thickness, std::move(dash));
}

void Figure::polyline(const std::vector<double>& xs, const std::vector<double>& ys, Rgb c, double thickness,
                      std::vector<double> dash) {
  Op op = shape(Op::path, 0, 0, 0, 0, c);
  op.xs = xs;
  op.ys = ys;
  op.thickness = thickness;
  op.dash = std::move(dash);
  ops_.push_back(std::move(op));
}

void Figure::text(double x, double y, std::string_view s, Rgb c, Anchor anchor, int scale, bool vertical) {
  Op op = shape(Op::label, x, y, 0, 0, c);
  op.text = std::string(s);
  op.anchor = anchor;
  op.scale = scale;
  op.vertical = vertical;
  ops_.push_back(std::move(op));
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

double Figure::text_width(std::string_view s, int scale) {
  // Measured on a 1×1 surface with the font the drawing uses (one per thread: cairo contexts are not
  // shared between threads).
  thread_local Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1), cairo_surface_destroy);
  thread_local Context cr(cairo_create(surface.get()), cairo_destroy);
  select_font(cr.get(), scale);
  cairo_text_extents_t e;
  cairo_text_extents(cr.get(), std::string(s).c_str(), &e);
  return e.x_advance;
}

void Figure::paint(void* context) const {
  cairo_t* cr = static_cast<cairo_t*>(context);
  set_colour(cr, kWhite);
  cairo_paint(cr);
  for (const Op& op : ops_) {
    cairo_save(cr);
    set_colour(cr, op.colour);
    switch (op.kind) {
      case Op::fill:
        cairo_rectangle(cr, op.x, op.y, op.w, op.h);
        cairo_fill(cr);
        break;
      case Op::stroke:  // on the pixel grid: half a pixel inside the rectangle
        cairo_set_line_width(cr, 1);
        cairo_rectangle(cr, op.x + 0.5, op.y + 0.5, op.w - 1, op.h - 1);
        cairo_stroke(cr);
        break;
      case Op::path: {
        if (op.xs.size() < 2) break;
        // A 1 px line sits on pixel centres, so it stays one sharp pixel wide.
        const double snap = std::lround(op.thickness) % 2 == 1 ? 0.5 : 0;
        cairo_set_line_width(cr, op.thickness);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
        cairo_set_dash(cr, op.dash.data(), static_cast<int>(op.dash.size()), 0);
        cairo_move_to(cr, op.xs[0] + snap, op.ys[0] + snap);
        for (std::size_t k = 1; k < op.xs.size(); ++k) cairo_line_to(cr, op.xs[k] + snap, op.ys[k] + snap);
        cairo_stroke(cr);
        break;
      }
      case Op::label: {
        select_font(cr, op.scale);
        cairo_font_extents_t fe;
        cairo_font_extents(cr, &fe);
        cairo_text_extents_t te;
        cairo_text_extents(cr, op.text.c_str(), &te);
        const double shift = op.anchor == Anchor::start ? 0 : op.anchor == Anchor::middle ? te.x_advance / 2 : te.x_advance;
        if (op.vertical) {
          cairo_translate(cr, op.x + fe.ascent, op.y);
          cairo_rotate(cr, -M_PI / 2);
          cairo_move_to(cr, -shift, 0);
        } else {
          cairo_move_to(cr, op.x - shift, op.y + fe.ascent);
        }
        cairo_show_text(cr, op.text.c_str());
        break;
      }
      case Op::picture: {
        const Image& img = images_[static_cast<std::size_t>(op.image_index)];
        if (img.width == 0 || img.height == 0) break;
        Surface s = image_surface(img);
        cairo_rectangle(cr, op.x, op.y, op.w, op.h);
        cairo_clip(cr);
        cairo_translate(cr, op.x, op.y);
        cairo_scale(cr, op.w / img.width, op.h / img.height);
        cairo_set_source_surface(cr, s.get(), 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
        cairo_paint(cr);
        break;
      }
    }
    cairo_restore(cr);
  }
}

std::string Figure::svg() const {
  std::string out;
  {
    Surface surface(cairo_svg_surface_create_for_stream(append_to_string, &out, width_, height_), cairo_surface_destroy);
    check(cairo_surface_status(surface.get()), "an SVG surface");
    Context cr(cairo_create(surface.get()), cairo_destroy);
    paint(cr.get());
    check(cairo_status(cr.get()), "drawing the SVG");
    cairo_surface_finish(surface.get());
    check(cairo_surface_status(surface.get()), "writing the SVG");
  }
  return out;
}

std::string Figure::png() const {
  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width_, height_), cairo_surface_destroy);
  check(cairo_surface_status(surface.get()), "an image surface");
  {
    Context cr(cairo_create(surface.get()), cairo_destroy);
    paint(cr.get());
    check(cairo_status(cr.get()), "drawing the PNG");
  }
  std::string out;
  check(cairo_surface_write_to_png_stream(surface.get(), append_to_string, &out), "writing the PNG");
  return out;
}

void Figure::save(const std::string& stem) const {
  write_file_atomically(stem + ".svg", svg());
  write_file_atomically(stem + ".png", png());
}

}  // namespace symbreak::experiments
