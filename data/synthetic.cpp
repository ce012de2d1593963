// The synthetic benchmark as a Dataset (samples rendered on demand from (seed, index)) and its
// writer to PNG files + manifest.json.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/image_io.h"
#include "data/synthetic_render.h"
#include "data/synthetic_scene.h"

namespace xmkd::data {
namespace {

namespace fs = std::filesystem;
using namespace synthetic;

void check_options(const SyntheticOptions& o) {
  XMKD_CHECK(o.size >= 8 && o.size <= 4096, "synthetic dataset: size must be in [8, 4096], got ", o.size);
  XMKD_CHECK(o.count >= 1, "synthetic dataset: count must be >= 1, got ", o.count);
  XMKD_CHECK(o.rgb_samples >= 1 && o.rgb_samples <= 8, "synthetic dataset: rgb_samples must be in [1, 8], got ",
             o.rgb_samples);
}

// Holds only its options: every get() renders from scratch, so concurrent calls share nothing.
class SyntheticDataset final : public Dataset {
 public:
  explicit SyntheticDataset(const SyntheticOptions& options) : options_(options) {
    check_options(options);
    modalities_ = {{"rgb", 3}, {"depth", 1}};
  }

  int64_t size() const override { return options_.count; }

  Sample get(int64_t index) const override {
    XMKD_CHECK(index >= 0 && index < options_.count, "synthetic dataset: index ", index, " is outside [0, ",
               options_.count, ")");
    const int64_t s = options_.size;
    const int64_t scene_class = scene_class_of(options_.seed, index);
    const Scene scene = sample_scene(options_.seed, index, scene_class);
    Tensor rgb = Tensor::empty({3, s, s});
    Tensor depth = Tensor::empty({1, s, s});
    Tensor label_map = Tensor::empty({s, s}, DType::Int64);
    render_scene(scene, s, sample_seed(options_.seed, index, kRgbNoiseStream),
                 sample_seed(options_.seed, index, kDepthNoiseStream), rgb.data<float>(), depth.data<float>(),
                 label_map.data<int64_t>(), options_.rgb_samples);
    Sample sample;
    sample.images = {rgb, depth};
    sample.label = options_.task == Task::Classification ? scene_class : -1;
    sample.label_maps = {label_map, label_map};
    return sample;
  }

  const std::vector<ModalitySpec>& modalities() const override { return modalities_; }
  int64_t num_classes() const override {
    return options_.task == Task::Classification ? kSceneClasses : kPixelClasses;
  }
  Task task() const override { return options_.task; }

  std::vector<int64_t> labels() const override {
    if (options_.task != Task::Classification) return {};
    std::vector<int64_t> out(options_.count);
    for (int64_t i = 0; i < options_.count; ++i) out[i] = scene_class_of(options_.seed, i);
    return out;
  }

  std::string describe() const override {
    return str_cat("synthetic RGB-D benchmark: ", task_name(options_.task), ", ", options_.count, " samples of ",
                   options_.size, "x", options_.size, ", ", num_classes(), " classes, seed ", options_.seed);
  }

 private:
  SyntheticOptions options_;
  std::vector<ModalitySpec> modalities_;
};

std::string file_name(int64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "%06lld.png", static_cast<long long>(index));
  return name;
}

// (C, H, W) float in [0, 1] -> 8-bit HWC.
Image rgb_image(const Tensor& rgb) {
  const int64_t h = rgb.dim(1), w = rgb.dim(2);
  Image image{h, w, 3, 8, std::vector<uint16_t>(static_cast<size_t>(h * w * 3))};
  const float* x = rgb.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < h * w; ++p)
      image.pixels[p * 3 + c] = static_cast<uint16_t>(std::lround(std::clamp(x[c * h * w + p], 0.0f, 1.0f) * 255.0f));
  return image;
}

// (1, H, W) metres -> 16-bit millimetres (0 stays 0: a hole).
Image depth_image(const Tensor& depth) {
  const int64_t h = depth.dim(1), w = depth.dim(2);
  Image image{h, w, 1, 16, std::vector<uint16_t>(static_cast<size_t>(h * w))};
  const float* x = depth.data<float>();
  for (int64_t p = 0; p < h * w; ++p)
    image.pixels[p] = static_cast<uint16_t>(std::clamp(std::lround(x[p] * 1000.0f), 0L, 65535L));
  return image;
}

Image label_image(const Tensor& label_map) {
  const int64_t h = label_map.dim(0), w = label_map.dim(1);
  Image image{h, w, 1, 8, std::vector<uint16_t>(static_cast<size_t>(h * w))};
  const int64_t* x = label_map.data<int64_t>();
  for (int64_t p = 0; p < h * w; ++p) image.pixels[p] = static_cast<uint16_t>(x[p]);
  return image;
}

}  // namespace

std::shared_ptr<Dataset> synthetic_dataset(const SyntheticOptions& options) {
  return std::make_shared<SyntheticDataset>(options);
}

// The label maps are written for both tasks, but a classification manifest does not list them:
// their 10 per-pixel classes are not its 8 scene classes.
void write_synthetic(const SyntheticOptions& options, const std::string& dir) {
  const auto dataset = synthetic_dataset(options);
  const fs::path root(dir);
  std::error_code error;
  for (const char* sub : {"rgb", "depth", "labels"}) {
    fs::create_directories(root / sub, error);
    XMKD_CHECK(!error, "write_synthetic: cannot create directory ", (root / sub).string(), ": ", error.message());
  }
  const bool classification = options.task == Task::Classification;
  nlohmann::json samples = nlohmann::json::array();
  for (int64_t i = 0; i < options.count; ++i) {
    const Sample sample = dataset->get(i);
    const std::string name = file_name(i);
    write_png8((root / "rgb" / name).string(), rgb_image(sample.images[0]));
    write_png16((root / "depth" / name).string(), depth_image(sample.images[1]));
    write_png8((root / "labels" / name).string(), label_image(sample.label_maps[0]));
    nlohmann::json entry = {{"rgb", "rgb/" + name}, {"depth", "depth/" + name}};
    if (classification) entry["label"] = sample.label;
    else entry["label_map"] = "labels/" + name;
    samples.push_back(std::move(entry));
  }
  const nlohmann::json manifest = {
      {"task", task_name(options.task)},
      {"num_classes", dataset->num_classes()},
      {"modalities",
       {{{"name", "rgb"}, {"channels", 3}, {"scale", 1.0 / 255.0}},
        {{"name", "depth"}, {"channels", 1}, {"scale", 0.001}}}},
      {"samples", samples}};
  // The manifest last, and by rename: a reader never sees a manifest whose images are missing.
  const fs::path temporary = root / "manifest.json.tmp";
  {
    std::ofstream out(temporary);
    XMKD_CHECK(out, "write_synthetic: cannot write ", temporary.string());
    out << manifest.dump(1) << "\n";
    XMKD_CHECK(out.good(), "write_synthetic: error writing ", temporary.string());
  }
  fs::rename(temporary, root / "manifest.json", error);
  XMKD_CHECK(!error, "write_synthetic: cannot rename ", temporary.string(), " to manifest.json: ", error.message());
}

}  // namespace xmkd::data
