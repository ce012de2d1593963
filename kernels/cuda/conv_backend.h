// Which implementation runs the CUDA conv2d kernels (kernels/defs/conv.def), process-wide:
//   handwritten       implicit-GEMM kernels in FP32 (kernels/cuda/conv2d_implicit_gemm.cu), the default
//   handwritten-tf32  the same kernels on tensor cores (wmma m16n16k8, TF32 inputs, FP32 sums):
//                     faster, but the inputs keep a 10-bit mantissa (relative error ~1e-3)
//   cudnn             cuDNN (kernels/cuda/conv2d_cudnn.cpp), FP32 (tensor-op math disabled)
// The setting is set_conv_backend's last value, else the environment variable
// XMKD_CONV_BACKEND read once, else handwritten. The trainer sets it from train.conv_backend.
//
// Implemented in conv_backend.cpp; a build without CUDA links no_cuda_stubs.cpp, where
// set_conv_backend and conv2d_workspace_size throw "built without CUDA".
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

// Floats of scratch space the CUDA conv2d kernels need on the current backend (the op's
// workspace argument): the per-split partial sums of the handwritten backward-weight pass.
// cuDNN takes its own workspace from the caching allocator, so 0 there.
int64_t conv2d_workspace_size(const Conv2dGeometry& g);

// --- The backends' entry points, with the contracts of kernels/defs/conv.def ---
// conv2d_implicit_gemm.cu; tf32 selects the tensor-core kernels.
int64_t conv2d_implicit_gemm_workspace_size(const Conv2dGeometry& g);
void conv2d_forward_implicit_gemm(const Conv2dGeometry& g, const float* x, const float* w, const float* bias,
                                  float* y, bool tf32);
void conv2d_backward_data_implicit_gemm(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                                        bool tf32);
void conv2d_backward_weight_implicit_gemm(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                                          float* db, float* workspace, bool tf32);
// conv2d_cudnn.cpp
bool cudnn_compiled();
void conv2d_forward_cudnn(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y);
void conv2d_backward_data_cudnn(const Conv2dGeometry& g, const float* dy, const float* w, float* dx);
void conv2d_backward_weight_cudnn(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db);

}  // namespace xmkd::cuda
