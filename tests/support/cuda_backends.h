// Selects the CUDA conv and batch-norm backends (kernels/cuda/backends.h) for a scope and
// restores the previous ones. Only for tests that run on a device: without CUDA the setters throw.
#pragma once
#include "kernels/cuda/backends.h"

namespace xmkd::testing {

class CudaBackendScope {
 public:
  explicit CudaBackendScope(cuda::ConvBackend conv,
                            cuda::BatchNormBackend batchnorm = cuda::BatchNormBackend::Handwritten)
      : conv_(cuda::conv_backend()), batchnorm_(cuda::batchnorm_backend()) {
    cuda::set_conv_backend(conv);
    cuda::set_batchnorm_backend(batchnorm);
  }
  ~CudaBackendScope() {
    cuda::set_conv_backend(conv_);
    cuda::set_batchnorm_backend(batchnorm_);
  }
  CudaBackendScope(const CudaBackendScope&) = delete;
  CudaBackendScope& operator=(const CudaBackendScope&) = delete;

 private:
  cuda::ConvBackend conv_;
  cuda::BatchNormBackend batchnorm_;
};

}  // namespace xmkd::testing
