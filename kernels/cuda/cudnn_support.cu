// The cuDNN handles (kernels/cuda/cudnn_support.h).
#include "kernels/cuda/cudnn_support.h"

#ifdef XMKD_WITH_CUDNN
#include <climits>
#include <mutex>

#include "kernels/cuda/launch.cuh"

namespace xmkd::cuda {

int cudnn_device() {
  int device = 0;
  XMKD_CUDA_CHECK(cudaGetDevice(&device));
  XMKD_CHECK(device < kMaxCudnnDevices, "CUDA device ", device, " is beyond the ", kMaxCudnnDevices,
             " xmkd's cuDNN backends support");
  return device;
}

cudnnHandle_t cudnn_handle() {
  static std::once_flag once[kMaxCudnnDevices];
  static cudnnHandle_t handles[kMaxCudnnDevices];
  const int device = cudnn_device();
  std::call_once(once[device], [device] {
    XMKD_CUDNN_CHECK(cudnnCreate(&handles[device]));
    XMKD_CUDNN_CHECK(cudnnSetStream(handles[device], stream()));
  });
  return handles[device];
}

int cudnn_int(int64_t v, const char* what) {
  XMKD_CHECK(v <= INT_MAX, what, " (cuDNN): size ", v, " exceeds cuDNN's 32-bit sizes");
  return static_cast<int>(v);
}

}  // namespace xmkd::cuda

#endif  // XMKD_WITH_CUDNN
