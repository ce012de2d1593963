// normalize, compose, and the per-channel statistics normalisation is computed from.
#include <algorithm>
#include <cmath>

#include "data/transforms.h"
#include "data/transforms_detail.h"

namespace xmkd::data {

namespace detail {

const Tensor& checked_image(const Sample& sample, int64_t modality, const char* transform) {
  XMKD_CHECK(modality < static_cast<int64_t>(sample.images.size()), transform, ": modality ", modality,
             " requested but the sample has ", sample.images.size(), " modalities");
  const Tensor& img = sample.images[modality];
  XMKD_CHECK(img.defined() && img.ndim() == 3 && img.dtype() == DType::Float32 && img.device() == Device::CPU, transform,
             ": modality ", modality, " must be a float32 (C, H, W) image on the CPU, got ",
             img.defined() ? img.str() : "an undefined tensor");
  return img;
}

}  // namespace detail

namespace {

class Normalize : public Transform {
 public:
  Normalize(int64_t modality, std::vector<float> mean, std::vector<float> std)
      : modality_(modality), mean_(std::move(mean)), std_(std::move(std)) {
    XMKD_CHECK(modality >= 0, "normalize: modality must be >= 0, got ", modality);
    XMKD_CHECK(!mean_.empty() && mean_.size() == std_.size(), "normalize: need one mean and one std per channel, got ",
               mean_.size(), " means and ", std_.size(), " stds");
    for (size_t c = 0; c < std_.size(); ++c)
      XMKD_CHECK(std_[c] > 0.0f && std::isfinite(std_[c]) && std::isfinite(mean_[c]), "normalize: channel ", c,
                 " needs a finite mean and a positive std, got mean ", mean_[c], ", std ", std_[c]);
  }

  void apply(Sample& sample, Generator&) const override {
    const Tensor& img = detail::checked_image(sample, modality_, "normalize");
    const int64_t C = img.dim(0), plane = img.dim(1) * img.dim(2);
    XMKD_CHECK(C == static_cast<int64_t>(mean_.size()), "normalize: modality ", modality_, " has ", C,
               " channels but ", mean_.size(), " means and stds were given");
    Tensor out = Tensor::empty(img.shape());
    const float* x = img.data<float>();
    float* y = out.data<float>();
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < plane; ++i) y[c * plane + i] = (x[c * plane + i] - mean_[c]) / std_[c];
    sample.images[modality_] = out;
  }

  std::string describe() const override {
    std::string s = str_cat("normalize(modality=", modality_, ", mean=[");
    for (size_t c = 0; c < mean_.size(); ++c) s += str_cat(c ? ", " : "", mean_[c]);
    s += "], std=[";
    for (size_t c = 0; c < std_.size(); ++c) s += str_cat(c ? ", " : "", std_[c]);
    return s + "])";
  }

 private:
  int64_t modality_;
  std::vector<float> mean_, std_;
};

class Compose : public Transform {
 public:
  explicit Compose(std::vector<std::shared_ptr<Transform>> transforms) : transforms_(std::move(transforms)) {
    for (size_t i = 0; i < transforms_.size(); ++i) XMKD_CHECK(transforms_[i] != nullptr, "compose: transform ", i, " is null");
  }
  void apply(Sample& sample, Generator& gen) const override {
    for (const auto& t : transforms_) t->apply(sample, gen);
  }
  std::string describe() const override {
    std::string s = "compose(";
    for (size_t i = 0; i < transforms_.size(); ++i) s += str_cat(i ? ", " : "", transforms_[i]->describe());
    return s + ")";
  }

 private:
  std::vector<std::shared_ptr<Transform>> transforms_;
};

// Running count, mean and sum of squared deviations of one channel; a whole image plane is
// folded in at once (its own two-pass mean and M2, combined by Chan et al.'s parallel update),
// which stays accurate in double over millions of values.
struct ChannelMoments {
  double count = 0.0, mean = 0.0, m2 = 0.0;
  void add_plane(const float* x, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += x[i];
    const double mean_b = sum / static_cast<double>(n);
    double m2_b = 0.0;
    for (int64_t i = 0; i < n; ++i) m2_b += (x[i] - mean_b) * (x[i] - mean_b);
    const double nb = static_cast<double>(n), total = count + nb, delta = mean_b - mean;
    mean += delta * nb / total;
    m2 += m2_b + delta * delta * count * nb / total;
    count = total;
  }
};

}  // namespace

std::shared_ptr<Transform> normalize(int64_t modality, std::vector<float> mean, std::vector<float> std) {
  return std::make_shared<Normalize>(modality, std::move(mean), std::move(std));
}

std::shared_ptr<Transform> compose(std::vector<std::shared_ptr<Transform>> transforms) {
  return std::make_shared<Compose>(std::move(transforms));
}

// The samples used are spread evenly over the dataset: i · N / count for i < count. std is the
// population standard deviation (divided by the number of values).
ChannelStats compute_channel_stats(const Dataset& dataset, int64_t max_samples) {
  const int64_t N = dataset.size();
  XMKD_CHECK(N > 0, "compute_channel_stats: the dataset is empty (", dataset.describe(), ")");
  XMKD_CHECK(max_samples > 0, "compute_channel_stats: max_samples must be > 0, got ", max_samples);
  const auto& specs = dataset.modalities();
  const int64_t count = std::min(N, max_samples);
  std::vector<std::vector<ChannelMoments>> moments(specs.size());
  for (size_t m = 0; m < specs.size(); ++m) moments[m].resize(static_cast<size_t>(specs[m].channels));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = i * N / count;
    const Sample sample = dataset.get(index);
    XMKD_CHECK(sample.images.size() == specs.size(), "compute_channel_stats: sample ", index, " has ", sample.images.size(),
               " images, the dataset declares ", specs.size(), " modalities");
    for (size_t m = 0; m < specs.size(); ++m) {
      const Tensor& img = detail::checked_image(sample, static_cast<int64_t>(m), "compute_channel_stats");
      XMKD_CHECK(img.dim(0) == specs[m].channels, "compute_channel_stats: sample ", index, " modality '", specs[m].name, "' has ",
                 img.dim(0), " channels, expected ", specs[m].channels);
      const int64_t plane = img.dim(1) * img.dim(2);
      for (int64_t c = 0; c < img.dim(0); ++c) moments[m][c].add_plane(img.data<float>() + c * plane, plane);
    }
  }
  ChannelStats stats;
  for (const auto& per_channel : moments) {
    std::vector<float> mean, std;
    for (const ChannelMoments& cm : per_channel) {
      mean.push_back(static_cast<float>(cm.mean));
      std.push_back(static_cast<float>(std::sqrt(cm.m2 / cm.count)));
    }
    stats.mean.push_back(std::move(mean));
    stats.std.push_back(std::move(std));
  }
  return stats;
}

}  // namespace xmkd::data
