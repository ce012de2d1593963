// Photometric transforms: they change the values of one modality, never the geometry.
//
// color_jitter, in this order, each step clamped to [0, 1]: brightness x·b; contrast
// m + c·(x - m) with m the mean of the image's grey level (of all values when it is not RGB);
// saturation g + s·(x - g) with g = 0.299 R + 0.587 G + 0.114 B per pixel (RGB only); additive
// Gaussian noise. b, c, s are drawn uniformly in [1 - x, 1 + x], in that order, each only when
// enabled, then one normal draw per value for the noise.
//
// depth_noise: d · s · (1 + noise_std · n), then each pixel dropped to 0 with probability
// drop_prob; s is one draw per image, n and the drop one draw each per value. A hole (0) stays 0,
// and a reading pushed below 0 by the noise becomes 0.
#include <algorithm>
#include <cmath>

#include "data/transforms.h"
#include "data/transforms_detail.h"

namespace xmkd::data {
namespace {

float clamp01(float v) { return std::min(1.0f, std::max(0.0f, v)); }

// Grey level of pixel i of an RGB image stored as three planes of `plane` values.
float grey(const float* x, int64_t plane, int64_t i) {
  return 0.299f * x[i] + 0.587f * x[plane + i] + 0.114f * x[2 * plane + i];
}

double mean_level(const float* x, int64_t C, int64_t plane) {
  double sum = 0.0;
  if (C == 3) {
    for (int64_t i = 0; i < plane; ++i) sum += grey(x, plane, i);
    return sum / static_cast<double>(plane);
  }
  for (int64_t i = 0; i < C * plane; ++i) sum += x[i];
  return sum / static_cast<double>(C * plane);
}

float draw_factor(float spread, Generator& gen) { return gen.uniform(1.0f - spread, 1.0f + spread); }

class ColorJitter : public Transform {
 public:
  ColorJitter(int64_t modality, const ColorJitterOptions& o) : modality_(modality), o_(o) {
    XMKD_CHECK(modality >= 0, "color_jitter: modality must be >= 0, got ", modality);
    auto check_spread = [](float x, const char* name) {
      XMKD_CHECK(x >= 0.0f && x <= 1.0f, "color_jitter: ", name, " must be in [0, 1] (factors in [1 - x, 1 + x]), got ", x);
    };
    check_spread(o.brightness, "brightness");
    check_spread(o.contrast, "contrast");
    check_spread(o.saturation, "saturation");
    XMKD_CHECK(o.noise_std >= 0.0f, "color_jitter: noise_std must be >= 0, got ", o.noise_std);
  }

  void apply(Sample& sample, Generator& gen) const override {
    const Tensor& img = detail::checked_image(sample, modality_, "color_jitter");
    const int64_t C = img.dim(0), plane = img.dim(1) * img.dim(2), n = C * plane;
    XMKD_CHECK(o_.saturation == 0.0f || C == 3, "color_jitter: saturation needs a 3-channel (RGB) image, modality ", modality_,
               " has ", C, " channels");
    Tensor out = img.clone();
    float* x = out.data<float>();
    if (o_.brightness > 0.0f) {
      const float b = draw_factor(o_.brightness, gen);
      for (int64_t i = 0; i < n; ++i) x[i] = clamp01(x[i] * b);
    }
    if (o_.contrast > 0.0f) {
      const float c = draw_factor(o_.contrast, gen);
      const float m = static_cast<float>(mean_level(x, C, plane));
      for (int64_t i = 0; i < n; ++i) x[i] = clamp01(m + c * (x[i] - m));
    }
    if (o_.saturation > 0.0f) {
      const float s = draw_factor(o_.saturation, gen);
      for (int64_t i = 0; i < plane; ++i) {
        const float g = grey(x, plane, i);
        for (int64_t c = 0; c < 3; ++c) x[c * plane + i] = clamp01(g + s * (x[c * plane + i] - g));
      }
    }
    if (o_.noise_std > 0.0f)
      for (int64_t i = 0; i < n; ++i) x[i] = clamp01(x[i] + o_.noise_std * gen.normal());
    sample.images[modality_] = out;
  }

  std::string describe() const override {
    return str_cat("color_jitter(modality=", modality_, ", brightness=", o_.brightness, ", contrast=", o_.contrast,
                   ", saturation=", o_.saturation, ", noise_std=", o_.noise_std, ")");
  }

 private:
  int64_t modality_;
  ColorJitterOptions o_;
};

class DepthNoise : public Transform {
 public:
  DepthNoise(int64_t modality, const DepthNoiseOptions& o) : modality_(modality), o_(o) {
    XMKD_CHECK(modality >= 0, "depth_noise: modality must be >= 0, got ", modality);
    XMKD_CHECK(o.noise_std >= 0.0f, "depth_noise: noise_std must be >= 0, got ", o.noise_std);
    XMKD_CHECK(o.drop_prob >= 0.0f && o.drop_prob <= 1.0f, "depth_noise: drop_prob is a probability in [0, 1], got ", o.drop_prob);
    XMKD_CHECK(o.scale_min > 0.0f && o.scale_min <= o.scale_max,
               "depth_noise: scale range must satisfy 0 < scale_min <= scale_max, got [", o.scale_min, ", ", o.scale_max, "]");
  }

  void apply(Sample& sample, Generator& gen) const override {
    const Tensor& img = detail::checked_image(sample, modality_, "depth_noise");
    Tensor out = img.clone();
    float* d = out.data<float>();
    const int64_t n = out.numel();
    const float s = o_.scale_min == o_.scale_max ? o_.scale_min : gen.uniform(o_.scale_min, o_.scale_max);
    for (int64_t i = 0; i < n; ++i) {
      float v = d[i] * s;
      if (o_.noise_std > 0.0f) v = std::max(0.0f, v * (1.0f + o_.noise_std * gen.normal()));
      if (o_.drop_prob > 0.0f && gen.uniform() < o_.drop_prob) v = 0.0f;
      d[i] = v;
    }
    sample.images[modality_] = out;
  }

  std::string describe() const override {
    return str_cat("depth_noise(modality=", modality_, ", noise_std=", o_.noise_std, ", drop_prob=", o_.drop_prob, ", scale=[",
                   o_.scale_min, ", ", o_.scale_max, "])");
  }

 private:
  int64_t modality_;
  DepthNoiseOptions o_;
};

}  // namespace

std::shared_ptr<Transform> color_jitter(int64_t modality, const ColorJitterOptions& options) {
  return std::make_shared<ColorJitter>(modality, options);
}

std::shared_ptr<Transform> depth_noise(int64_t modality, const DepthNoiseOptions& options) {
  return std::make_shared<DepthNoise>(modality, options);
}

}  // namespace xmkd::data
