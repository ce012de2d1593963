// Batch normalisation through cuDNN: the "cudnn" batch-norm backend of kernels/cuda/backends.h.
//
// cuDNN's spatial mode (statistics over N and the spatial positions of each channel) on the
// layout (N, C, inner) described as the 4-d NCHW tensor (N, C, inner, 1); the per-channel tensors
// use the descriptor cudnnDeriveBNTensorDescriptor gives. The descriptors of each device and shape
// are built once and kept for the process. The contracts are those of kernels/defs/norm.def:
//   running statistics: cuDNN's exponential average with factor = momentum, the variance term
//     unbiased, as the handwritten kernel and the CPU do;
//   save_mean / save_invstd: cuDNN's "saved mean" and "saved inverse variance", which is
//     1/sqrt(var + eps), the same quantity;
//   backward: cuDNN computes dx, dweight and dbias together from x, dy, weight and the saved
//     statistics (with the forward's eps); a dweight or dbias the caller does not want goes to
//     the kernel's workspace (2·C floats, batchnorm_workspace), as does a running statistic when
//     only one of the two is given. A backward without dx, and inference's, which cuDNN does not
//     have, are sent to the handwritten kernel by backends.cpp.
// Training has more than one value per channel (norm.def); inference may get an empty batch, for
// which only the saved constants are written (cuDNN rejects it).
// Plain CUDNN_BATCHNORM_SPATIAL is used, not _PERSISTENT: the latter is documented to overflow on
// some inputs. cuDNN's batch-norm entry points are the legacy ones (deprecated in cuDNN 9, still
// shipped); this file is the only user.
#include <array>
#include <map>
#include <memory>
#include <mutex>

#include "kernels/cuda/backends.h"
#include "kernels/cuda/cudnn_support.h"
#include "kernels/cuda/launch.cuh"

#ifdef XMKD_WITH_CUDNN

namespace xmkd::cuda {
namespace {

constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;

struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr;         // (N, C, inner, 1): x, y, dy, dx
  cudnnTensorDescriptor_t channels = nullptr;  // derived (1, C, 1, 1): weight, bias, means, variances
};

const Descriptors& descriptors_for(int64_t N, int64_t C, int64_t inner) {
  using Key = std::array<int64_t, 4>;
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<Descriptors>> cache;   // kept for the process, like the handles
  const Key key{cudnn_device(), N, C, inner};
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<Descriptors>& d = cache[key];
  if (!d) {
    d = std::make_unique<Descriptors>();
    XMKD_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->x));
    XMKD_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->channels));
    XMKD_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                cudnn_int(N, "batch_norm"), cudnn_int(C, "batch_norm"),
                                                cudnn_int(inner, "batch_norm"), 1));
    XMKD_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(d->channels, d->x, kMode));
  }
  return *d;
}

// `given`, or the scratch slot when the caller does not want the result.
float* or_scratch(float* given, float* slot) { return given ? given : slot; }

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void batchnorm_forward_training_cudnn(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                      const float* bias, float* running_mean, float* running_var, float momentum,
                                      float eps, float* y, float* save_mean, float* save_invstd, float* workspace) {
  if (C == 0) return;
  const Descriptors& d = descriptors_for(N, C, inner);
  // cuDNN updates both running statistics or neither: a missing one is updated in scratch and
  // dropped (nullptr for both when neither is given).
  const bool running = running_mean || running_var;
  float* mean = running ? or_scratch(running_mean, workspace) : nullptr;
  float* var = running ? or_scratch(running_var, workspace + C) : nullptr;
  XMKD_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      cudnn_handle(), kMode, &kOne, &kZero, d.x, x, d.x, y, d.channels, weight, bias, static_cast<double>(momentum),
      mean, var, static_cast<double>(eps), save_mean, save_invstd));
}

void batchnorm_forward_inference_cudnn(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                       const float* bias, const float* running_mean, const float* running_var,
                                       float eps, float* y, float* save_mean, float* save_invstd) {
  if (C == 0) return;
  batchnorm_inference_constants(C, running_mean, running_var, eps, save_mean, save_invstd);
  if (N * inner == 0) return;
  const Descriptors& d = descriptors_for(N, C, inner);
  XMKD_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(cudnn_handle(), kMode, &kOne, &kZero, d.x, x, d.x, y,
                                                           d.channels, weight, bias, running_mean, running_var,
                                                           static_cast<double>(eps)));
}

void batchnorm_backward_training_cudnn(int64_t N, int64_t C, int64_t inner, const float* x, const float* dy,
                                       const float* weight, const float* save_mean, const float* save_invstd,
                                       float eps, float* dx, float* dweight, float* dbias, float* workspace) {
  if (C == 0) return;
  const Descriptors& d = descriptors_for(N, C, inner);
  XMKD_CUDNN_CHECK(cudnnBatchNormalizationBackward(cudnn_handle(), kMode, &kOne, &kZero, &kOne, &kZero, d.x, x, d.x,
                                                   dy, d.x, dx, d.channels, weight, or_scratch(dweight, workspace),
                                                   or_scratch(dbias, workspace + C),
                                                   static_cast<double>(eps), save_mean, save_invstd));
}

}  // namespace xmkd::cuda

#else  // built without cuDNN: set_batchnorm_backend refuses "cudnn"; XMKD_BATCHNORM_BACKEND=cudnn ends here

namespace xmkd::cuda {
namespace {
[[noreturn]] void no_cudnn() { fail("xmkd was built without cuDNN: use XMKD_BATCHNORM_BACKEND=handwritten"); }
}  // namespace

void batchnorm_forward_training_cudnn(int64_t, int64_t, int64_t, const float*, const float*, const float*, float*,
                                      float*, float, float, float*, float*, float*, float*) {
  no_cudnn();
}
void batchnorm_forward_inference_cudnn(int64_t, int64_t, int64_t, const float*, const float*, const float*,
                                       const float*, const float*, float, float*, float*, float*) {
  no_cudnn();
}
void batchnorm_backward_training_cudnn(int64_t, int64_t, int64_t, const float*, const float*, const float*,
                                       const float*, const float*, float, float*, float*, float*, float*) {
  no_cudnn();
}

}  // namespace xmkd::cuda

#endif
