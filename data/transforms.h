// Transforms act on one Sample on the CPU, drawing from the Generator they are given (the loader
// gives each sample its own, seeded from the run seed, the epoch and the sample, so results do not
// depend on the number of workers).
//
// Geometric transforms move pixels: in joint mode every modality and the label maps get the same
// draw; in decoupled mode each modality draws its own and carries its own transformed copy of the
// label map. Photometric transforms change values of one modality only.
//
// A transform never writes into the tensors it is given (a dataset may hand out tensors it
// keeps): it replaces them in the Sample with new ones.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/random.h"

namespace xmkd::data {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual void apply(Sample& sample, Generator& gen) const = 0;
  virtual std::string describe() const = 0;
};

struct GeometricOptions {
  float hflip = 0.0f;               // probability of a horizontal flip
  float vflip = 0.0f;               // probability of a vertical flip
  float rot90 = 0.0f;               // probability of a rotation by a random multiple of 90° (square images)
  float scale_min = 1.0f, scale_max = 1.0f;   // random scale-crop: zoom by s in [min, max], crop back to size
  int64_t resize_h = 0, resize_w = 0;         // resize to this size first (0: keep)
  bool decoupled = false;           // each modality draws its own geometry
};
std::shared_ptr<Transform> geometric(const GeometricOptions& options);

struct ColorJitterOptions {
  float brightness = 0.0f, contrast = 0.0f, saturation = 0.0f;   // factors drawn in [1-x, 1+x]
  float noise_std = 0.0f;
};
std::shared_ptr<Transform> color_jitter(int64_t modality, const ColorJitterOptions& options);

struct DepthNoiseOptions {
  float noise_std = 0.0f;      // additive Gaussian, relative to the depth value
  float drop_prob = 0.0f;      // fraction of pixels set to 0 (sensor holes)
  float scale_min = 1.0f, scale_max = 1.0f;   // global depth scale
};
std::shared_ptr<Transform> depth_noise(int64_t modality, const DepthNoiseOptions& options);

// (x - mean[c]) / std[c] per channel of one modality.
std::shared_ptr<Transform> normalize(int64_t modality, std::vector<float> mean, std::vector<float> std);
// Per-channel mean and std of every modality over (a subset of) a dataset, in double.
struct ChannelStats {
  std::vector<std::vector<float>> mean, std;   // [modality][channel]
};
ChannelStats compute_channel_stats(const Dataset& dataset, int64_t max_samples = 2000);

// Applies transforms in order.
std::shared_ptr<Transform> compose(std::vector<std::shared_ptr<Transform>> transforms);

}  // namespace xmkd::data
