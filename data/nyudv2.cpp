// NYU Depth v2, the common prepared layout: <root>/<split>.txt lists the samples; each is
// <root>/<split>/rgb/<id>.png (8-bit RGB), depth/<id>.png (16-bit, millimetres) and
// labels_<K>/<id>.png (8-bit, 0 = void). A list line's first token names the sample: "0003",
// "0003.png" and "train/rgb/0003.png" all mean id 0003.
#include <filesystem>

#include "data/datasets.h"
#include "data/reader_support.h"

namespace xmkd::data {
namespace {

class NyuDepthV2 : public Dataset {
 public:
  NyuDepthV2(std::string root, std::string split, int classes, std::vector<std::string> ids)
      : root_(std::move(root)), split_(std::move(split)), classes_(classes), ids_(std::move(ids)) {
    validate();
  }

  int64_t size() const override { return static_cast<int64_t>(ids_.size()); }
  const std::vector<ModalitySpec>& modalities() const override { return specs_; }
  int64_t num_classes() const override { return classes_; }
  Task task() const override { return Task::Segmentation; }
  std::string describe() const override {
    return str_cat("NYU Depth v2 ", split_, " (", root_, "): ", ids_.size(), " samples, ", classes_, " classes");
  }

  Sample get(int64_t index) const override {
    XMKD_CHECK(index >= 0 && index < size(), "NYU Depth v2 ", split_, " (", root_, "): sample index ", index,
               " is outside [0, ", size(), ")");
    const std::string& id = ids_[static_cast<size_t>(index)];
    const std::string rgb_path = file("rgb", id), depth_path = file("depth", id), label_path = file(labels_dir(), id);
    const Image rgb = read_image(rgb_path);
    const Image depth = read_image(depth_path);
    check_rgb(rgb_path, rgb.channels);
    check_depth(depth_path, depth.channels, depth.bit_depth);
    check_same_size(depth_path, depth.height, depth.width, rgb.height, rgb.width, rgb_path);
    Sample s;
    s.images.push_back(image_to_tensor(rgb, unit_scale(rgb.bit_depth), 3));
    s.images.push_back(image_to_tensor(depth, kMillimetre, 1));
    const Tensor map = read_label_map(label_path, classes_, /*shift_void=*/true);
    check_same_size(label_path, map.dim(0), map.dim(1), rgb.height, rgb.width, rgb_path);
    s.label_maps.assign(2, map);
    return s;
  }

 private:
  static constexpr float kMillimetre = 0.001f;

  std::string labels_dir() const { return "labels_" + std::to_string(classes_); }
  std::string file(const std::string& dir, const std::string& id) const {
    return (std::filesystem::path(root_) / split_ / dir / (id + ".png")).string();
  }
  static void check_rgb(const std::string& path, int64_t channels) {
    XMKD_CHECK(channels_compatible(channels, 3), path, ": expected an RGB image, it has ", channels, " channel(s)");
  }
  static void check_depth(const std::string& path, int64_t channels, int bit_depth) {
    XMKD_CHECK(channels == 1 && bit_depth == 16, path, ": expected a 16-bit single-channel depth PNG in millimetres, ",
               "it has ", channels, " channel(s) at ", bit_depth, " bits");
  }
  static void check_same_size(const std::string& path, int64_t h, int64_t w, int64_t rgb_h, int64_t rgb_w,
                              const std::string& rgb_path) {
    XMKD_CHECK(h == rgb_h && w == rgb_w, path, ": is ", w, "x", h, " but ", rgb_path, " is ", rgb_w, "x", rgb_h);
  }

  // Header-only checks of every sample: files exist and decode, kinds and sizes agree.
  void validate() const {
    for (const std::string& id : ids_) {
      const std::string rgb_path = file("rgb", id), depth_path = file("depth", id), label_path = file(labels_dir(), id);
      const ImageHeader rgb = read_image_header(rgb_path);
      check_rgb(rgb_path, rgb.channels);
      const ImageHeader depth = read_image_header(depth_path);
      check_depth(depth_path, depth.channels, depth.bit_depth);
      check_same_size(depth_path, depth.height, depth.width, rgb.height, rgb.width, rgb_path);
      const ImageHeader labels = check_label_map_header(label_path);
      check_same_size(label_path, labels.height, labels.width, rgb.height, rgb.width, rgb_path);
    }
  }

  std::string root_, split_;
  int classes_;
  std::vector<std::string> ids_;
  std::vector<ModalitySpec> specs_ = {{"rgb", 3}, {"depth", 1}};
};

}  // namespace

std::shared_ptr<Dataset> open_nyudv2(const std::string& root, const std::string& split, int classes) {
  XMKD_CHECK(split == "train" || split == "test", "open_nyudv2(", root, "): split must be \"train\" or \"test\", got \"",
             split, "\"");
  XMKD_CHECK(classes == 13 || classes == 40, "open_nyudv2(", root, "): classes must be 13 or 40 (labels_13 or labels_40), got ",
             classes);
  const std::string list = (std::filesystem::path(root) / (split + ".txt")).string();
  std::vector<std::string> ids;
  for (const std::string& line : read_lines(list, "NYU Depth v2 list")) {
    const std::string t = trim(line);
    if (t.empty()) continue;
    const std::string token = t.substr(0, t.find_first_of(" \t"));
    ids.push_back(std::filesystem::path(token).stem().string());
  }
  XMKD_CHECK(!ids.empty(), list, ": lists no samples (expected one sample id per line, e.g. 0003)");
  return std::make_shared<NyuDepthV2>(root, split, classes, std::move(ids));
}

}  // namespace xmkd::data
