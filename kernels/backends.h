// Choosing among the CUDA implementations of the kernel groups that have more than one, for the
// layers above the kernels (the trainer sets them from train.conv_backend and
// train.batchnorm_backend). kernels/cuda/backends.h lists the implementations and how the
// default is chosen; engine/dispatch.h chooses between the CPU and the CUDA backend.
#pragma once
#include <string>

namespace xmkd::kernels {

enum class BackendGroup {
  Conv,        // "handwritten", "handwritten-tf32", "cudnn"
  BatchNorm,   // "handwritten", "cudnn"
};

// From now on the group's CUDA kernels run the named implementation, process-wide. Throws naming
// the choices for an unknown name, and when the binary was built without CUDA (or cuDNN, for
// "cudnn").
void set_cuda_backend(BackendGroup group, const std::string& name);

}  // namespace xmkd::kernels
