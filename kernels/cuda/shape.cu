// copy_channels (kernels/defs/shape.def): for each of the N samples, one contiguous run of
// channels·inner floats moves from src to dst. That is a 2-D copy of N rows of run floats
// between two pitches (src_C·inner and dst_C·inner floats), which cudaMemcpy2DAsync does in one
// call on the device's stream.
#include "kernels/cuda/launch.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {

void copy_channels(int64_t N, int64_t inner, int64_t channels, const float* src, int64_t src_C, int64_t src_offset,
                   float* dst, int64_t dst_C, int64_t dst_offset) {
  const int64_t run = channels * inner;
  if (run == 0 || N == 0) return;
  XMKD_CUDA_CHECK(cudaMemcpy2DAsync(dst + dst_offset * inner, sizeof(float) * dst_C * inner,
                                    src + src_offset * inner, sizeof(float) * src_C * inner, sizeof(float) * run,
                                    static_cast<size_t>(N), cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace xmkd::cuda
