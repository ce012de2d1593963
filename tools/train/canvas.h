// A small RGB raster canvas for the training pictures: anti-aliased lines, rectangles, text in an
// embedded 5x7 bitmap font, and PNG output through data/image_io.
//
// Coordinates are pixels, x to the right and y down; a pixel's centre is at integer coordinates,
// so a 1-px line from (2, 5) to (9, 5) covers exactly pixels x = 2..9 of row 5. Anything outside
// the canvas is clipped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_io.h"

namespace xmkd::train {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

namespace colours {
constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrey{128, 128, 128};
constexpr Rgb kLightGrey{225, 225, 225};
}  // namespace colours

// The turbo colour map (a polynomial fit), t in [0, 1] (clamped).
Rgb turbo_colour(float t);

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = colours::kWhite);
  int width() const { return width_; }
  int height() const { return height_; }

  Rgb get(int x, int y) const;                         // (x, y) must be inside
  void set(int x, int y, Rgb colour);                  // clipped
  void blend(int x, int y, Rgb colour, float alpha);   // alpha in [0, 1]; clipped
  void fill_rect(int x, int y, int w, int h, Rgb colour);
  void draw_rect(int x, int y, int w, int h, Rgb colour);   // 1-px outline
  // A segment `thickness` px wide; coverage of each pixel by distance from its centre to the
  // segment (1 inside, fading to 0 over the last pixel), so axis-aligned lines stay crisp.
  void line(double x0, double y0, double x1, double y1, Rgb colour, double thickness = 1.0);
  // Text with its top-left corner at (x, y); each glyph 5x7 (descenders one row lower) in a 6x8
  // cell, scaled by `scale`.
  void text(int x, int y, const std::string& text, Rgb colour, int scale = 1);
  void paste(int x, int y, const Canvas& other);

  data::Image to_image() const;   // 8-bit RGB
  void save_png(const std::string& path) const;

 private:
  int width_, height_;
  std::vector<Rgb> pixels_;   // row-major
};

constexpr int kGlyphWidth = 5, kGlyphHeight = 8, kGlyphAdvance = 6;   // 5x7 glyphs + a descender row
inline int text_width(const std::string& text, int scale = 1) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * kGlyphAdvance - 1) * scale;
}
inline int text_height(int scale = 1) { return kGlyphHeight * scale; }
// `text`, shortened with a trailing '.' until it fits in max_width px (at least one character).
std::string fit_text(const std::string& text, int max_width, int scale = 1);

}  // namespace xmkd::train
