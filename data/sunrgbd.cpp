// SUN RGB-D scene classification from a list file of "<path> <label>" lines (paths relative to
// the list file's directory). Each PNG holds the RGB view in its left half and the depth view in
// its right half, side by side at one bit depth.
//
// Depth encoding (an assumption, written down in docs/data.md): the right half is a grey image,
// stored either as one channel or as equal R, G and B; depth = stored value x scale, with scale
// 0.001 for 16-bit images (millimetres -> metres) and 1/255 for 8-bit images (a normalised
// rendering whose metric range is lost: relative units in [0, 1]). A right half whose channels
// differ (a colour-mapped depth rendering) cannot be decoded and is an error.
#include <algorithm>
#include <climits>

#include "data/datasets.h"
#include "data/reader_support.h"

namespace xmkd::data {
namespace {

struct ListEntry {
  std::string path;
  int64_t label;
};

class SunRgbdList : public Dataset {
 public:
  SunRgbdList(std::string list_file, std::vector<ListEntry> entries, int64_t num_classes)
      : list_(std::move(list_file)), entries_(std::move(entries)), num_classes_(num_classes) {
    for (const ListEntry& e : entries_) check_header(e.path, read_image_header(e.path));
  }

  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  const std::vector<ModalitySpec>& modalities() const override { return specs_; }
  int64_t num_classes() const override { return num_classes_; }
  Task task() const override { return Task::Classification; }
  std::vector<int64_t> labels() const override {
    std::vector<int64_t> out;
    for (const ListEntry& e : entries_) out.push_back(e.label);
    return out;
  }
  std::string describe() const override {
    return str_cat("SUN RGB-D list ", list_, ": ", entries_.size(), " samples, ", num_classes_, " classes");
  }

  Sample get(int64_t index) const override {
    XMKD_CHECK(index >= 0 && index < size(), list_, ": sample index ", index, " is outside [0, ", size(), ")");
    const ListEntry& e = entries_[static_cast<size_t>(index)];
    const Image image = read_image(e.path);
    check_header(e.path, {image.height, image.width, image.channels, image.bit_depth});
    const int64_t half = image.width / 2;
    if (image.channels >= 3) check_grey_right_half(e.path, image, half);
    Sample s;
    s.label = e.label;
    s.images.push_back(image_to_tensor(image, unit_scale(image.bit_depth), 0, half, 0, 3));
    const float depth_scale = image.bit_depth == 16 ? 0.001f : 1.0f / 255.0f;
    s.images.push_back(image_to_tensor(image, depth_scale, half, half, 0, 1));
    return s;
  }

 private:
  static void check_header(const std::string& path, const ImageHeader& h) {
    XMKD_CHECK(h.width % 2 == 0 && h.width >= 2, path, ": is ", h.width, "x", h.height,
               "; expected RGB and depth side by side (an even width, left half RGB, right half depth)");
    XMKD_CHECK(h.channels == 1 || h.channels == 3 || h.channels == 4, path, ": has ", h.channels,
               " channel(s); expected an RGB(A) or grey image");
  }

  static void check_grey_right_half(const std::string& path, const Image& image, int64_t half) {
    const int64_t c = image.channels;
    for (int64_t y = 0; y < image.height; ++y)
      for (int64_t x = half; x < image.width; ++x) {
        const uint16_t* p = image.pixels.data() + (y * image.width + x) * c;
        if (p[0] != p[1] || p[0] != p[2])
          fail(path, ": the depth half is not grey: pixel (x=", x, ", y=", y, ") has R, G, B = ", p[0], ", ", p[1], ", ",
               p[2], "; expected depth stored as a grey value (a colour-mapped depth image cannot be decoded)");
      }
  }

  std::string list_;
  std::vector<ListEntry> entries_;
  int64_t num_classes_;
  std::vector<ModalitySpec> specs_ = {{"rgb", 3}, {"depth", 1}};
};

}  // namespace

std::shared_ptr<Dataset> open_sunrgbd_list(const std::string& list_file) {
  const std::vector<std::string> lines = read_lines(list_file, "SUN RGB-D list");
  std::vector<ListEntry> entries;
  int64_t max_label = -1;
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string t = trim(lines[n]);
    if (t.empty() || t[0] == '#') continue;
    const size_t split = t.find_last_of(" \t");
    int64_t label = -1;
    XMKD_CHECK(split != std::string::npos && parse_int64(t.substr(split + 1), &label) && label >= 0 && label < INT32_MAX, list_file, ": line ",
               n + 1, ": expected \"<path>.png <label>\" with a non-negative integer label, got \"", t, "\"");
    entries.push_back({resolve_relative(list_file, trim(t.substr(0, split))), label});
    max_label = std::max(max_label, label);
  }
  XMKD_CHECK(!entries.empty(), list_file, ": lists no samples (expected \"<path>.png <label>\" lines)");
  return std::make_shared<SunRgbdList>(list_file, std::move(entries), max_label + 1);
}

}  // namespace xmkd::data
