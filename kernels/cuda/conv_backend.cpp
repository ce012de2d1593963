// The CUDA conv2d kernels of kernels/defs/conv.def: each hands its call to the backend chosen
// process-wide (kernels/cuda/conv_backend.h).
#include "kernels/cuda/conv_backend.h"

#include <atomic>
#include <cstdlib>

#include "engine/error.h"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

ConvBackend backend_from_environment() {
  const char* name = std::getenv("XMKD_CONV_BACKEND");
  return name && *name ? parse_conv_backend(name) : ConvBackend::Handwritten;
}

// Read on first use, so a bad XMKD_CONV_BACKEND fails at the first CUDA conv, naming the variable.
std::atomic<ConvBackend>& setting() {
  static std::atomic<ConvBackend> backend{backend_from_environment()};
  return backend;
}

}  // namespace

const char* conv_backend_name(ConvBackend backend) {
  switch (backend) {
    case ConvBackend::Handwritten: return "handwritten";
    case ConvBackend::HandwrittenTF32: return "handwritten-tf32";
    case ConvBackend::Cudnn: return "cudnn";
  }
  return "?";
}

ConvBackend parse_conv_backend(const std::string& name) {
  for (ConvBackend b : {ConvBackend::Handwritten, ConvBackend::HandwrittenTF32, ConvBackend::Cudnn})
    if (name == conv_backend_name(b)) return b;
  fail("unknown conv backend '", name, "' (XMKD_CONV_BACKEND / train.conv_backend): expected handwritten, ",
       "handwritten-tf32 or cudnn");
}

ConvBackend conv_backend() { return setting().load(); }

void set_conv_backend(ConvBackend backend) {
  XMKD_CHECK(conv_backend_available(backend), "conv backend '", conv_backend_name(backend),
             "' is not available: xmkd was built without cuDNN");
  setting().store(backend);
}

bool conv_backend_available(ConvBackend backend) { return backend != ConvBackend::Cudnn || cudnn_compiled(); }

int64_t conv2d_workspace_size(const Conv2dGeometry& g) {
  return conv_backend() == ConvBackend::Cudnn ? 0 : conv2d_implicit_gemm_workspace_size(g);
}

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                    float* workspace) {
  const ConvBackend backend = conv_backend();
  if (backend == ConvBackend::Cudnn) {
    conv2d_forward_cudnn(g, x, w, bias, y);
  } else {
    conv2d_forward_implicit_gemm(g, x, w, bias, y, backend == ConvBackend::HandwrittenTF32);
  }
}

void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx, float* workspace) {
  const ConvBackend backend = conv_backend();
  if (backend == ConvBackend::Cudnn) {
    conv2d_backward_data_cudnn(g, dy, w, dx);
  } else {
    conv2d_backward_data_implicit_gemm(g, dy, w, dx, backend == ConvBackend::HandwrittenTF32);
  }
}

void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db,
                            float* workspace) {
  const ConvBackend backend = conv_backend();
  if (backend == ConvBackend::Cudnn) {
    conv2d_backward_weight_cudnn(g, x, dy, dw, db);
  } else {
    conv2d_backward_weight_implicit_gemm(g, x, dy, dw, db, workspace, backend == ConvBackend::HandwrittenTF32);
  }
}

}  // namespace xmkd::cuda
