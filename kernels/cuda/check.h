// Every CUDA runtime and cuBLAS call is checked: a failure throws xmkd::Error with the call, file
// and line. XMKD_CUDA_CHECK_LAUNCH() after a <<<...>>> launch reports a bad launch configuration;
// the kernel's own faults surface at the next synchronising call, which is checked too, or at the
// launch itself with XMKD_CUDA_SYNC=1 (runtime.h).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "engine/error.h"

#define XMKD_CUDA_CHECK(call)                                                          \
  do {                                                                                 \
    cudaError_t err_ = (call);                                                         \
    if (err_ != cudaSuccess)                                                           \
      ::xmkd::fail("CUDA error ", cudaGetErrorName(err_), " (", cudaGetErrorString(err_), \
                   ") in ", #call, " at ", __FILE__, ":", __LINE__);                   \
  } while (0)

namespace xmkd::cuda {
void check_launch(const char* file, int line);   // runtime.cu
}
#define XMKD_CUDA_CHECK_LAUNCH() ::xmkd::cuda::check_launch(__FILE__, __LINE__)

#define XMKD_CUBLAS_CHECK(call)                                                                     \
  do {                                                                                              \
    cublasStatus_t status_ = (call);                                                                \
    if (status_ != CUBLAS_STATUS_SUCCESS)                                                           \
      ::xmkd::fail("cuBLAS error ", cublasGetStatusName(status_), " (", cublasGetStatusString(status_), \
                   ") in ", #call, " at ", __FILE__, ":", __LINE__);                                \
  } while (0)
