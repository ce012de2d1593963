// Which implementation runs the CUDA kernels that have more than one, process-wide.
//
// Convolution (the conv2d kernels of kernels/defs/conv.def):
//   handwritten       implicit-GEMM kernels in FP32 (kernels/cuda/conv2d_implicit_gemm.cu), the default
//   handwritten-tf32  the same kernels on tensor cores (wmma m16n16k8, TF32 inputs, FP32 sums):
//                     faster, but the inputs keep a 10-bit mantissa (relative error ~1e-3)
//   cudnn             cuDNN (kernels/cuda/conv2d_cudnn.cu), FP32 (tensor-op math disabled)
// Batch normalisation (the batchnorm kernels of kernels/defs/norm.def):
//   handwritten       fused one-block-per-channel kernels (kernels/cuda/batchnorm.cu), the default
//   cudnn             cuDNN's spatial batch norm (kernels/cuda/batchnorm_cudnn.cu)
// Each setting is its set_*_backend's last value, else its environment variable
// (XMKD_CONV_BACKEND, XMKD_BATCHNORM_BACKEND) read once, else handwritten. The trainer sets them
// from train.conv_backend and train.batchnorm_backend.
//
// Implemented in backends.cpp; a build without CUDA links no_cuda_stubs.cpp, where
// setting a backend throws "built without CUDA".
#pragma once
#include <cstdint>
#include <string>

#include "kernels/geometry.h"

namespace xmkd::cuda {

enum class ConvBackend { Handwritten, HandwrittenTF32, Cudnn };

const char* conv_backend_name(ConvBackend backend);   // "handwritten", "handwritten-tf32", "cudnn"
// The backend of a name above; throws xmkd::Error listing the choices otherwise.
ConvBackend parse_conv_backend(const std::string& name);

ConvBackend conv_backend();
void set_conv_backend(ConvBackend backend);
// False for cudnn when this binary was built without cuDNN; true otherwise.
bool conv_backend_available(ConvBackend backend);


enum class BatchNormBackend { Handwritten, Cudnn };

const char* batchnorm_backend_name(BatchNormBackend backend);   // "handwritten", "cudnn"
BatchNormBackend parse_batchnorm_backend(const std::string& name);
BatchNormBackend batchnorm_backend();
void set_batchnorm_backend(BatchNormBackend backend);
bool batchnorm_backend_available(BatchNormBackend backend);   // false for cudnn without cuDNN

// --- The conv backends' entry points, with the contracts of kernels/defs/conv.def ---
// conv2d_implicit_gemm.cu; tf32 selects the tensor-core kernels.
int64_t conv2d_implicit_gemm_workspace_size(const Conv2dGeometry& g);
void conv2d_forward_implicit_gemm(const Conv2dGeometry& g, const float* x, const float* w, const float* bias,
                                  float* y, bool tf32);
void conv2d_backward_data_implicit_gemm(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                                        bool tf32);
void conv2d_backward_weight_implicit_gemm(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                                          float* db, float* workspace, bool tf32);
// conv2d_cudnn.cu
bool cudnn_compiled();
// The floats of workspace cuDNN's chosen algorithm for `pass` needs (its bytes, rounded up).
int64_t conv2d_cudnn_workspace_size(const Conv2dGeometry& g, ConvPass pass);
void conv2d_forward_cudnn(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                          float* workspace);
void conv2d_backward_data_cudnn(const Conv2dGeometry& g, const float* dy, const float* w, float* dx, float* workspace);
void conv2d_backward_weight_cudnn(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db,
                                  float* workspace);


// --- The batch-norm backends' entry points, with the contracts of kernels/defs/norm.def ---
// batchnorm.cu
void batchnorm_forward_training_handwritten(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                            const float* bias, float* running_mean, float* running_var,
                                            float momentum, float eps, float* y, float* save_mean,
                                            float* save_invstd);
void batchnorm_forward_inference_handwritten(int64_t N, int64_t C, int64_t inner, const float* x,
                                             const float* weight, const float* bias, const float* running_mean,
                                             const float* running_var, float eps, float* y, float* save_mean,
                                             float* save_invstd);
void batchnorm_backward_handwritten(int64_t N, int64_t C, int64_t inner, bool training, const float* x,
                                    const float* dy, const float* weight, const float* save_mean,
                                    const float* save_invstd, float* dx, float* dweight, float* dbias);
// save_mean = running_mean, save_invstd = 1/sqrt(running_var + eps): what inference forward saves.
void batchnorm_inference_constants(int64_t C, const float* running_mean, const float* running_var, float eps,
                                   float* save_mean, float* save_invstd);
// batchnorm_cudnn.cu. The backward is training's with dx wanted (cuDNN computes dx, dweight and
// dbias together); the dispatch sends the others, and inference's, to the handwritten kernel.
// workspace: 2·C floats (batchnorm_workspace) for the results the caller does not want.
void batchnorm_forward_training_cudnn(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                      const float* bias, float* running_mean, float* running_var, float momentum,
                                      float eps, float* y, float* save_mean, float* save_invstd, float* workspace);
void batchnorm_forward_inference_cudnn(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                       const float* bias, const float* running_mean, const float* running_var,
                                       float eps, float* y, float* save_mean, float* save_invstd);
void batchnorm_backward_training_cudnn(int64_t N, int64_t C, int64_t inner, const float* x, const float* dy,
                                       const float* weight, const float* save_mean, const float* save_invstd,
                                       float eps, float* dx, float* dweight, float* dbias, float* workspace);

}  // namespace xmkd::cuda
