// What the cuDNN backends (conv2d_cudnn.cu, batchnorm_cudnn.cu) share: the error check, one
// handle per device bound to the backend's stream, and cuDNN's int sizes. Their scratch is the
// kernels' workspace argument (kernels/defs/conv.def, norm.def): nothing here allocates. Only
// for builds with cuDNN (XMKD_WITH_CUDNN); implemented in cudnn_support.cu.
#pragma once
#ifdef XMKD_WITH_CUDNN
#include <cstddef>
#include <cstdint>

#include <cudnn.h>

#include "engine/error.h"

#define XMKD_CUDNN_CHECK(call)                                                                                 \
  do {                                                                                                         \
    cudnnStatus_t status_ = (call);                                                                            \
    if (status_ != CUDNN_STATUS_SUCCESS)                                                                       \
      ::xmkd::fail("cuDNN error ", cudnnGetErrorString(status_), " in ", #call, " at ", __FILE__, ":", __LINE__); \
  } while (0)

namespace xmkd::cuda {

constexpr int kMaxCudnnDevices = 64;

// The current CUDA device; throws beyond kMaxCudnnDevices.
int cudnn_device();
// The cuDNN handle of the current device, bound to the backend's stream; kept for the process.
cudnnHandle_t cudnn_handle();
// v as cuDNN's int; throws, naming `what`, when it does not fit.
int cudnn_int(int64_t v, const char* what);

}  // namespace xmkd::cuda

#endif  // XMKD_WITH_CUDNN
