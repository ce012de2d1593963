// Image files through stb_image / stb_image_write: 8- and 16-bit PNG, JPEG and BMP (8-bit).
// Every failure names the file and says what was expected.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace xmkd::data {

struct Image {
  int64_t height = 0, width = 0, channels = 0;
  int bit_depth = 8;                 // 8 or 16
  std::vector<uint16_t> pixels;      // HWC, interleaved; 8-bit values are 0..255
};

// What the file header says, without decoding the pixels (cheap validation at open time).
// channels is what read_image(path) returns (a palette image counts as RGB or RGBA).
struct ImageHeader {
  int64_t height = 0, width = 0, channels = 0;
  int bit_depth = 8;
};
ImageHeader read_image_header(const std::string& path);

// channels = 0 keeps the file's channel count; otherwise converts (1 grey, 3 RGB, 4 RGBA).
Image read_image(const std::string& path, int channels = 0);
void write_png8(const std::string& path, const Image& image);    // values must be <= 255
void write_png16(const std::string& path, const Image& image);   // 16-bit PNG (depth in mm)

}  // namespace xmkd::data
