// Helpers shared by the loader tests (test_data_loader.cpp, test_cuda_loader.cpp).
#pragma once
#include <cstring>
#include <memory>
#include <vector>

#include "data/loader.h"
#include "data/transforms.h"

namespace xmkd::testing {

// Every batch of one epoch.
inline std::vector<data::Batch> whole_epoch(data::DataLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<data::Batch> out;
  data::Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// Every geometric and photometric transform at once, to exercise the loader's per-sample draws.
inline std::shared_ptr<data::Transform> busy_transform(bool decoupled) {
  data::GeometricOptions g;
  g.hflip = 0.5f, g.vflip = 0.5f, g.rot90 = 0.5f, g.scale_min = 0.7f, g.scale_max = 1.4f, g.decoupled = decoupled;
  data::ColorJitterOptions cj;
  cj.brightness = 0.3f, cj.contrast = 0.3f, cj.saturation = 0.3f, cj.noise_std = 0.05f;
  data::DepthNoiseOptions dn;
  dn.noise_std = 0.02f, dn.drop_prob = 0.1f, dn.scale_min = 0.9f, dn.scale_max = 1.1f;
  // The encoded values reach ~10^6: bring RGB into [0, 1] before jittering it.
  return data::compose({data::geometric(g), data::normalize(0, {0.0f, 0.0f, 0.0f}, {2e6f, 2e6f, 2e6f}),
                        data::color_jitter(0, cj), data::depth_noise(1, dn)});
}

}  // namespace xmkd::testing
