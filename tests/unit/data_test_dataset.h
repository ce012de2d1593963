// A dataset for the data-pipeline tests whose pixels say where they come from: the value of
// channel c at (y, x) of modality m of sample i is encode(i, m, c, y, x), an integer exact in
// float32, so a test can tell which sample, modality and pixel every value of a batch came from.
// The label of sample i is i % num_classes; its label map holds (y·W + x) % num_classes.
#pragma once
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"

namespace xmkd::testing {

struct PixelOrigin {
  int64_t index, modality, channel, y, x;
  bool operator==(const PixelOrigin& o) const {
    return index == o.index && modality == o.modality && channel == o.channel && y == o.y && x == o.x;
  }
};

// Up to 4 modalities, 4 channels, 64x64 pixels and 4096 samples (values below 2^24).
inline float encode_pixel(int64_t index, int64_t modality, int64_t channel, int64_t y, int64_t x) {
  return static_cast<float>((((index * 4 + modality) * 4 + channel) * 64 + y) * 64 + x);
}

inline PixelOrigin decode_pixel(float value) {
  int64_t v = static_cast<int64_t>(value);
  PixelOrigin o;
  o.x = v % 64, v /= 64;
  o.y = v % 64, v /= 64;
  o.channel = v % 4, v /= 4;
  o.modality = v % 4, v /= 4;
  o.index = v;
  return o;
}

struct EncodedOptions {
  int64_t count = 10;
  int64_t height = 6, width = 6;
  std::vector<data::ModalitySpec> modalities = {{"rgb", 3}, {"depth", 1}};
  int64_t num_classes = 5;
  bool labels = true;           // a class label per sample
  bool label_maps = false;      // one label map, shared by every modality
  int64_t throw_at = -1;        // get(throw_at) throws an Error naming the index
  int delay_us = 0;             // each get() sleeps this long (to catch workers mid-sample)
};

class EncodedDataset : public data::Dataset {
 public:
  explicit EncodedDataset(EncodedOptions o) : o_(std::move(o)) {}

  int64_t size() const override { return o_.count; }
  const std::vector<data::ModalitySpec>& modalities() const override { return o_.modalities; }
  int64_t num_classes() const override { return o_.num_classes; }
  data::Task task() const override { return o_.label_maps ? data::Task::Segmentation : data::Task::Classification; }
  std::string describe() const override { return "encoded test dataset"; }
  std::vector<int64_t> labels() const override {
    std::vector<int64_t> out;
    if (o_.labels)
      for (int64_t i = 0; i < o_.count; ++i) out.push_back(i % o_.num_classes);
    return out;
  }

  data::Sample get(int64_t index) const override {
    gets_.fetch_add(1);
    if (o_.delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(o_.delay_us));
    if (index == o_.throw_at) fail("encoded test dataset: sample ", index, " is deliberately broken");
    data::Sample s;
    const int64_t H = o_.height, W = o_.width;
    for (size_t m = 0; m < o_.modalities.size(); ++m) {
      const int64_t C = o_.modalities[m].channels;
      Tensor img = Tensor::empty({C, H, W});
      float* p = img.data<float>();
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) p[(c * H + y) * W + x] = encode_pixel(index, static_cast<int64_t>(m), c, y, x);
      s.images.push_back(img);
    }
    if (o_.labels) s.label = index % o_.num_classes;
    if (o_.label_maps) {
      Tensor lm = Tensor::empty({H, W}, DType::Int64);
      for (int64_t i = 0; i < H * W; ++i) lm.data<int64_t>()[i] = i % o_.num_classes;
      s.label_maps.assign(o_.modalities.size(), lm);
    }
    return s;
  }

  int64_t gets() const { return gets_.load(); }

 private:
  EncodedOptions o_;
  mutable std::atomic<int64_t> gets_{0};
};

}  // namespace xmkd::testing
