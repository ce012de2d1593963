// The CUDA conv2d and batch-norm kernels of kernels/defs/: each hands its call to the backend
// chosen process-wide (kernels/cuda/backends.h).
#include "kernels/cuda/backends.h"

#include <atomic>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/error.h"
#include "kernels/backends.h"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

// One process-wide choice among Backend's values, named by name_of; the environment variable is
// read on first use, so a bad value fails at the first kernel that asks, naming the variable.
template <class Backend>
class Setting {
 public:
  using NameOf = const char* (*)(Backend);
  Setting(const char* kind, const char* variable, const char* config_key, NameOf name_of,
          std::initializer_list<Backend> choices)
      : kind_(kind), variable_(variable), config_key_(config_key), name_of_(name_of), choices_(choices) {
    const char* name = std::getenv(variable);
    value_.store(name && *name ? parse(name) : *choices.begin());
  }

  Backend parse(const std::string& name) const {
    std::string expected;
    for (Backend b : choices_) {
      if (name == name_of_(b)) return b;
      expected += std::string(expected.empty() ? "" : " or ") + name_of_(b);
    }
    fail("unknown ", kind_, " backend '", name, "' (", variable_, " / ", config_key_, "): expected ", expected);
  }

  Backend get() const { return value_.load(); }
  void set(Backend b) { value_.store(b); }

 private:
  const char* kind_;
  const char* variable_;
  const char* config_key_;
  NameOf name_of_;
  std::vector<Backend> choices_;   // the first is the default
  std::atomic<Backend> value_{};
};

Setting<ConvBackend>& conv_setting() {
  static Setting<ConvBackend> setting("conv", "XMKD_CONV_BACKEND", "train.conv_backend", conv_backend_name,
                                      {ConvBackend::Handwritten, ConvBackend::HandwrittenTF32, ConvBackend::Cudnn});
  return setting;
}

Setting<BatchNormBackend>& batchnorm_setting() {
  static Setting<BatchNormBackend> setting("batch norm", "XMKD_BATCHNORM_BACKEND", "train.batchnorm_backend",
                                           batchnorm_backend_name,
                                           {BatchNormBackend::Handwritten, BatchNormBackend::Cudnn});
  return setting;
}

void require_cudnn(bool wanted, const char* kind, const char* name) {
  XMKD_CHECK(!wanted || cudnn_compiled(), kind, " backend '", name,
             "' is not available: xmkd was built without cuDNN");
}

}  // namespace

// --- Convolution ---

const char* conv_backend_name(ConvBackend backend) {
  switch (backend) {
    case ConvBackend::Handwritten: return "handwritten";
    case ConvBackend::HandwrittenTF32: return "handwritten-tf32";
    case ConvBackend::Cudnn: return "cudnn";
  }
  return "?";
}

ConvBackend parse_conv_backend(const std::string& name) { return conv_setting().parse(name); }
ConvBackend conv_backend() { return conv_setting().get(); }

void set_conv_backend(ConvBackend backend) {
  require_cudnn(backend == ConvBackend::Cudnn, "conv", conv_backend_name(backend));
  conv_setting().set(backend);
}

bool conv_backend_available(ConvBackend backend) { return backend != ConvBackend::Cudnn || cudnn_compiled(); }

void conv2d_workspace(const Conv2dGeometry& g, ConvPass pass, int64_t* floats) {
  if (conv_backend() == ConvBackend::Cudnn) {
    *floats = conv2d_cudnn_workspace_size(g, pass);
  } else {
    *floats = pass == ConvPass::BackwardWeight ? conv2d_implicit_gemm_workspace_size(g) : 0;
  }
}

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                    float* workspace) {
  const ConvBackend backend = conv_backend();
  if (backend == ConvBackend::Cudnn) {
    conv2d_forward_cudnn(g, x, w, bias, y, workspace);
  } else {
    conv2d_forward_implicit_gemm(g, x, w, bias, y, backend == ConvBackend::HandwrittenTF32);
  }
}

void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx, float* workspace) {
  const ConvBackend backend = conv_backend();
  if (backend == ConvBackend::Cudnn) {
    conv2d_backward_data_cudnn(g, dy, w, dx, workspace);
  } else {
    conv2d_backward_data_implicit_gemm(g, dy, w, dx, backend == ConvBackend::HandwrittenTF32);
  }
}

void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db,
                            float* workspace) {
  const ConvBackend backend = conv_backend();
  if (backend == ConvBackend::Cudnn) {
    conv2d_backward_weight_cudnn(g, x, dy, dw, db, workspace);
  } else {
    conv2d_backward_weight_implicit_gemm(g, x, dy, dw, db, workspace, backend == ConvBackend::HandwrittenTF32);
  }
}

// --- Batch normalisation ---

const char* batchnorm_backend_name(BatchNormBackend backend) {
  switch (backend) {
    case BatchNormBackend::Handwritten: return "handwritten";
    case BatchNormBackend::Cudnn: return "cudnn";
  }
  return "?";
}

BatchNormBackend parse_batchnorm_backend(const std::string& name) { return batchnorm_setting().parse(name); }
BatchNormBackend batchnorm_backend() { return batchnorm_setting().get(); }

void set_batchnorm_backend(BatchNormBackend backend) {
  require_cudnn(backend == BatchNormBackend::Cudnn, "batch norm", batchnorm_backend_name(backend));
  batchnorm_setting().set(backend);
}

bool batchnorm_backend_available(BatchNormBackend backend) {
  return backend != BatchNormBackend::Cudnn || cudnn_compiled();
}

void batchnorm_workspace(int64_t C, int64_t* floats) {
  *floats = batchnorm_backend() == BatchNormBackend::Cudnn ? 2 * C : 0;
}

void batchnorm_forward_training(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                const float* bias, float* running_mean, float* running_var, float momentum,
                                float eps, float* y, float* save_mean, float* save_invstd, float* workspace) {
  if (batchnorm_backend() == BatchNormBackend::Cudnn) {
    batchnorm_forward_training_cudnn(N, C, inner, x, weight, bias, running_mean, running_var, momentum, eps, y,
                                     save_mean, save_invstd, workspace);
  } else {
    batchnorm_forward_training_handwritten(N, C, inner, x, weight, bias, running_mean, running_var, momentum, eps,
                                           y, save_mean, save_invstd);
  }
}

void batchnorm_forward_inference(int64_t N, int64_t C, int64_t inner, const float* x, const float* weight,
                                 const float* bias, const float* running_mean, const float* running_var, float eps,
                                 float* y, float* save_mean, float* save_invstd) {
  if (batchnorm_backend() == BatchNormBackend::Cudnn) {
    batchnorm_forward_inference_cudnn(N, C, inner, x, weight, bias, running_mean, running_var, eps, y, save_mean,
                                      save_invstd);
  } else {
    batchnorm_forward_inference_handwritten(N, C, inner, x, weight, bias, running_mean, running_var, eps, y,
                                            save_mean, save_invstd);
  }
}

void batchnorm_backward(int64_t N, int64_t C, int64_t inner, bool training, const float* x, const float* dy,
                        const float* weight, const float* save_mean, const float* save_invstd, float eps, float* dx,
                        float* dweight, float* dbias, float* workspace) {
  // cuDNN computes the whole training backward, which needs x, weight and a dx to write; the
  // partial backward passes (no dx wanted) and inference's stay on the handwritten kernel.
  if (training && dx && batchnorm_backend() == BatchNormBackend::Cudnn) {
    batchnorm_backward_training_cudnn(N, C, inner, x, dy, weight, save_mean, save_invstd, eps, dx, dweight, dbias,
                                      workspace);
  } else {
    batchnorm_backward_handwritten(N, C, inner, training, x, dy, weight, save_mean, save_invstd, dx, dweight, dbias);
  }
}

}  // namespace xmkd::cuda

namespace xmkd::kernels {

void set_cuda_backend(BackendGroup group, const std::string& name) {
  switch (group) {
    case BackendGroup::Conv: return cuda::set_conv_backend(cuda::parse_conv_backend(name));
    case BackendGroup::BatchNorm: return cuda::set_batchnorm_backend(cuda::parse_batchnorm_backend(name));
  }
}

}  // namespace xmkd::kernels
