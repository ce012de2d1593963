// Class prototypes by masked average pooling, and the nearest resize of label maps
// (kernels/defs/contrastive.def). Sums run in double and are rounded once.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

constexpr int64_t kParallelWork = 32768;

// PyTorch's nearest source index: min(floor(dst · (in/out)), in - 1) with the scale in float.
int64_t nearest_source(int64_t dst, int64_t in_size, int64_t out_size) {
  if (in_size == out_size) return dst;
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  return std::min(static_cast<int64_t>(std::floor(static_cast<float>(dst) * scale)), in_size - 1);
}

}  // namespace

void resize_labels_nearest(const int64_t* in, int64_t N, int64_t H, int64_t W, int64_t h, int64_t w, int64_t* out) {
#pragma omp parallel for if (N * h * w > kParallelWork)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = nearest_source(y, H, h);
      for (int64_t x = 0; x < w; ++x) out[(n * h + y) * w + x] = in[(n * H + sy) * W + nearest_source(x, W, w)];
    }
  }
}

void class_pixel_counts(const int64_t* labels, int64_t N, int64_t hw, int64_t C, int64_t ignore_index,
                        int64_t* counts, int64_t* bad_position) {
  int64_t first_bad = std::numeric_limits<int64_t>::max();
#pragma omp parallel for reduction(min : first_bad) if (N * hw > kParallelWork)
  for (int64_t n = 0; n < N; ++n) {
    int64_t* row = counts + n * C;
    std::fill(row, row + C, int64_t{0});
    for (int64_t p = 0; p < hw; ++p) {
      const int64_t label = labels[n * hw + p];
      if (label == ignore_index) continue;
      if (label < 0 || label >= C) {
        first_bad = std::min(first_bad, n * hw + p);
        continue;
      }
      ++row[label];
    }
  }
  *bad_position = first_bad == std::numeric_limits<int64_t>::max() ? -1 : first_bad;
}

void class_prototypes_forward(const float* features, const int64_t* labels, const int64_t* proto_sample,
                              const int64_t* proto_class, const int64_t* proto_count, int64_t P, int64_t D,
                              int64_t hw, float* prototypes) {
#pragma omp parallel for if (P * D * hw > kParallelWork)
  for (int64_t k = 0; k < P * D; ++k) {
    const int64_t proto = k / D, d = k % D;
    const int64_t n = proto_sample[proto], c = proto_class[proto];
    const float* f = features + (n * D + d) * hw;
    const int64_t* l = labels + n * hw;
    double s = 0.0;
    for (int64_t p = 0; p < hw; ++p)
      if (l[p] == c) s += f[p];
    prototypes[k] = static_cast<float>(s / static_cast<double>(proto_count[proto]));
  }
}

void class_prototypes_backward(const float* grad, const int64_t* labels, const int64_t* slot,
                               const int64_t* proto_count, int64_t N, int64_t D, int64_t hw, int64_t C,
                               int64_t ignore_index, float* dfeatures) {
#pragma omp parallel for if (N * D * hw > kParallelWork)
  for (int64_t nd = 0; nd < N * D; ++nd) {
    const int64_t n = nd / D, d = nd % D;
    const int64_t* l = labels + n * hw;
    float* df = dfeatures + nd * hw;
    for (int64_t p = 0; p < hw; ++p) {
      const int64_t label = l[p];
      // The forward op has validated every label, so a non-ignored one has a slot.
      if (label == ignore_index || label < 0 || label >= C) {
        df[p] = 0.0f;
        continue;
      }
      const int64_t k = slot[n * C + label];
      df[p] = k < 0 ? 0.0f : grad[k * D + d] / static_cast<float>(proto_count[k]);
    }
  }
}

}  // namespace xmkd::cpu
