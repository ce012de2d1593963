// Class prototypes by masked average pooling and the nearest resize of label maps
// (kernels/defs/contrastive.def), as kernels/cpu/contrastive.cpp.
// Layout: label maps (N, hw) int64, features (N, D, hw), prototypes (P, D), the slot table (N, C).
//
// Geometry:
//   resize_labels_nearest, class_prototypes_backward: one thread per output element, grid-stride;
//     the backward is a gather (each feature position reads the gradient of its own prototype
//     through the slot table), so there are no atomics and the result is the CPU's bit for bit.
//   class_pixel_counts: the counts are zeroed and bad_position set to -1 (all bits set) by memsets
//     on the stream, then one thread per label adds 1 to its count and lowers bad_position with
//     integer atomics. Integer adds and minima do not depend on their order, so the result is
//     deterministic; bad_position is compared as unsigned, where -1 is the largest value, so the
//     smallest bad position wins and -1 stays when there is none.
//   class_prototypes_forward: a warp per prototype element (k, d); the lanes split the hw
//     positions (coalesced reads of one feature plane) and sum in double, combined by the fixed
//     butterfly of warp_reduce: deterministic, and equal to the CPU's serial double sum up to the
//     double rounding, i.e. to the last float bit or so after the division and the cast.
#include <cmath>

#include "kernels/cuda/positions.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

// The CPU's nearest source index: min(floor(dst · (in/out)), in - 1), the scale in float.
__device__ int64_t nearest_source(int64_t dst, int64_t in_size, int64_t out_size) {
  if (in_size == out_size) return dst;
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const int64_t s = static_cast<int64_t>(floorf(static_cast<float>(dst) * scale));
  return s < in_size - 1 ? s : in_size - 1;
}

__global__ void resize_labels_nearest_kernel(const int64_t* in, int64_t N, int64_t H, int64_t W, int64_t h, int64_t w,
                                             int64_t* out) {
  XMKD_GRID_STRIDE(j, N * h * w) {
    const int64_t x = j % w, y = j / w % h, n = j / (h * w);
    out[j] = in[(n * H + nearest_source(y, H, h)) * W + nearest_source(x, W, w)];
  }
}

__global__ void class_pixel_counts_kernel(const int64_t* labels, int64_t N, int64_t hw, int64_t C,
                                          int64_t ignore_index, int64_t* counts, int64_t* bad_position) {
  XMKD_GRID_STRIDE(j, N * hw) {
    const int64_t label = labels[j];
    if (label == ignore_index) continue;
    if (label < 0 || label >= C) {
      atomicMin(reinterpret_cast<unsigned long long*>(bad_position), static_cast<unsigned long long>(j));
      continue;
    }
    atomicAdd(reinterpret_cast<unsigned long long*>(counts + (j / hw) * C + label), 1ull);
  }
}

// Warp `e` (positions.cuh's groups of 32, one per element) computes prototypes[e], e = k·D + d.
__global__ void class_prototypes_forward_kernel(const float* features, const int64_t* labels,
                                                const int64_t* proto_sample, const int64_t* proto_class,
                                                const int64_t* proto_count, int64_t P, int64_t D, int64_t hw,
                                                float* prototypes) {
  const int lane = group_lane<32>();
  for (int64_t e = first_position<32>(); e < P * D; e += position_stride<32>()) {
    const int64_t proto = e / D, d = e % D;
    const int64_t n = proto_sample[proto], c = proto_class[proto];
    const float* f = features + (n * D + d) * hw;
    const int64_t* l = labels + n * hw;
    double s = 0.0;
    for (int64_t p = lane; p < hw; p += 32)
      if (l[p] == c) s += f[p];
    s = group_reduce<32>(s, SumOp{});
    if (lane == 0) prototypes[e] = static_cast<float>(s / static_cast<double>(proto_count[proto]));
  }
}

// dfeatures[n, d, p] = grad[k, d] / count_k with k = slot[n, labels[n, p]]; 0 where ignored.
__global__ void class_prototypes_backward_kernel(const float* grad, const int64_t* labels, const int64_t* slot,
                                                 const int64_t* proto_count, int64_t N, int64_t D, int64_t hw,
                                                 int64_t C, int64_t ignore_index, float* dfeatures) {
  XMKD_GRID_STRIDE(j, N * D * hw) {
    const int64_t p = j % hw, d = j / hw % D, n = j / (hw * D);
    const int64_t label = labels[n * hw + p];
    // The forward op has validated every label, so a non-ignored one has a slot.
    if (label == ignore_index || label < 0 || label >= C) {
      dfeatures[j] = 0.0f;
      continue;
    }
    const int64_t k = slot[n * C + label];
    dfeatures[j] = k < 0 ? 0.0f : grad[k * D + d] / static_cast<float>(proto_count[k]);
  }
}

}  // namespace

void resize_labels_nearest(const int64_t* in, int64_t N, int64_t H, int64_t W, int64_t h, int64_t w, int64_t* out) {
  XMKD_LAUNCH_OVER(N * h * w, resize_labels_nearest_kernel, in, N, H, W, h, w, out);
}

void class_pixel_counts(const int64_t* labels, int64_t N, int64_t hw, int64_t C, int64_t ignore_index,
                        int64_t* counts, int64_t* bad_position) {
  if (N * C > 0) XMKD_CUDA_CHECK(cudaMemsetAsync(counts, 0, sizeof(int64_t) * static_cast<size_t>(N * C), stream()));
  XMKD_CUDA_CHECK(cudaMemsetAsync(bad_position, 0xff, sizeof(int64_t), stream()));
  XMKD_LAUNCH_OVER(N * hw, class_pixel_counts_kernel, labels, N, hw, C, ignore_index, counts, bad_position);
}

void class_prototypes_forward(const float* features, const int64_t* labels, const int64_t* proto_sample,
                              const int64_t* proto_class, const int64_t* proto_count, int64_t P, int64_t D,
                              int64_t hw, float* prototypes) {
  if (P * D == 0) return;
  class_prototypes_forward_kernel<<<position_blocks(P * D, 1), kThreads, 0, stream()>>>(
      features, labels, proto_sample, proto_class, proto_count, P, D, hw, prototypes);
  XMKD_CUDA_CHECK_LAUNCH();
}

void class_prototypes_backward(const float* grad, const int64_t* labels, const int64_t* slot,
                               const int64_t* proto_count, int64_t N, int64_t D, int64_t hw, int64_t C,
                               int64_t ignore_index, float* dfeatures) {
  XMKD_LAUNCH_OVER(N * D * hw, class_prototypes_backward_kernel, grad, labels, slot, proto_count, N, D, hw, C,
                   ignore_index, dfeatures);
}

}  // namespace xmkd::cuda
