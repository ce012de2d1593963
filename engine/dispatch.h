// The one place that chooses a backend: XMKD_DISPATCH(device, kernel, args...) calls
// xmkd::cuda::kernel(args...) for Device::CUDA and xmkd::cpu::kernel(args...) otherwise.
// Both are declared from the same kernels/defs/*.def line, so their signatures cannot drift.
#pragma once
#include "engine/device.h"
#include "engine/tensor.h"
#include "kernels/kernels.h"

#define XMKD_DISPATCH(device, kernel, ...)                                   \
  ((device) == ::xmkd::Device::CUDA ? ::xmkd::cuda::kernel(__VA_ARGS__)      \
                                    : ::xmkd::cpu::kernel(__VA_ARGS__))

namespace xmkd {
// An optional float32 argument of a kernel: its data, or null when the tensor is undefined.
inline float* data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
}  // namespace xmkd
