// Channel-block copy (kernels/defs/shape.def): for each sample, one contiguous run of
// channels * inner floats moves from src to dst.
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"

namespace xmkd::cpu {

void copy_channels(int64_t N, int64_t inner, int64_t channels, const float* src, int64_t src_C, int64_t src_offset,
                   float* dst, int64_t dst_C, int64_t dst_offset) {
  const int64_t run = channels * inner;
  if (run == 0) return;
#pragma omp parallel for if (N * run > (1 << 16))
  for (int64_t n = 0; n < N; ++n)
    std::memcpy(dst + (n * dst_C + dst_offset) * inner, src + (n * src_C + src_offset) * inner,
                static_cast<size_t>(run) * sizeof(float));
}

}  // namespace xmkd::cpu
