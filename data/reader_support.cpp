#include "data/reader_support.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"

namespace xmkd::data {

Tensor image_to_tensor(const Image& image, float scale, int64_t x0, int64_t width, int64_t c0, int64_t channels) {
  const bool replicate_grey = image.channels == 1;
  XMKD_CHECK(x0 >= 0 && width >= 1 && x0 + width <= image.width && channels >= 1 &&
                 (replicate_grey || c0 + channels <= image.channels),
             "image_to_tensor: columns [", x0, ", ", x0 + width, ") and channels [", c0, ", ", c0 + channels,
             ") do not fit a ", image.width, "x", image.height, " image of ", image.channels, " channel(s)");
  const int64_t h = image.height;
  Tensor t = Tensor::empty({channels, h, width});
  float* out = t.data<float>();
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t src_c = replicate_grey ? 0 : c0 + c;
    for (int64_t y = 0; y < h; ++y) {
      const uint16_t* row = image.pixels.data() + (y * image.width + x0) * image.channels + src_c;
      float* dst = out + (c * h + y) * width;
      for (int64_t x = 0; x < width; ++x) dst[x] = static_cast<float>(row[x * image.channels]) * scale;
    }
  }
  return t;
}

Tensor decode_label_map(const Image& image, const std::string& path, int64_t num_classes, bool shift_void) {
  XMKD_CHECK(image.channels == 1 && image.bit_depth == 8, path, ": a label map must be an 8-bit grey image, this one has ",
             image.channels, " channel(s) at ", image.bit_depth, " bits (a palette image decodes as RGB: save the class ",
             "indices as grey values)");
  Tensor t = Tensor::empty({image.height, image.width}, DType::Int64);
  int64_t* out = t.data<int64_t>();
  for (int64_t i = 0; i < image.height * image.width; ++i) {
    const int64_t stored = image.pixels[static_cast<size_t>(i)];
    const int64_t v = shift_void ? (stored == 0 ? kIgnoreLabel : stored - 1) : stored;
    if (v != kIgnoreLabel && v >= num_classes)
      fail(path, ": label map pixel (x=", i % image.width, ", y=", i / image.width, ") has value ", stored,
           shift_void ? " (class " + std::to_string(v) + " after the shift by -1)" : std::string(), "; expected a class in [0, ",
           num_classes, ") or ", kIgnoreLabel, " (ignore)");
    out[i] = v;
  }
  return t;
}

Tensor read_label_map(const std::string& path, int64_t num_classes, bool shift_void) {
  return decode_label_map(read_image(path), path, num_classes, shift_void);
}

ImageHeader check_label_map_header(const std::string& path) {
  const ImageHeader header = read_image_header(path);
  XMKD_CHECK(header.channels == 1 && header.bit_depth == 8, path, ": a label map must be an 8-bit grey image, this one has ",
             header.channels, " channel(s) at ", header.bit_depth, " bits (a palette image decodes as RGB: save the class ",
             "indices as grey values)");
  return header;
}

bool channels_compatible(int64_t stored, int64_t wanted) {
  return stored == wanted || (stored == wanted + 1 && (wanted == 1 || wanted == 3));
}

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

bool parse_int64(const std::string& text, int64_t* value) {
  const std::string s = trim(text);
  size_t i = 0;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    i = 1;
  }
  if (i == s.size()) return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    if (v > (static_cast<uint64_t>(INT64_MAX) - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  *value = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  return true;
}

std::vector<std::string> read_lines(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  XMKD_CHECK(in, "cannot open ", what, " '", path, "': ", std::strerror(errno));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  XMKD_CHECK(in.eof(), "read error in ", what, " '", path, "'");
  return lines;
}

std::string resolve_relative(const std::string& base_file, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (std::filesystem::path(base_file).parent_path() / p).lexically_normal().string();
}

}  // namespace xmkd::data
