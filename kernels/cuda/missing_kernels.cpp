// The CUDA build links the real runtime (runtime.cu) and the kernels of kernels/cuda/*.cu. The
// groups listed here have no CUDA implementation yet: their kernels throw, naming the kernel,
// instead of failing to link. Remove a group's line when its .cu file exists.
#include "engine/error.h"
#include "kernels/kernels.h"

namespace xmkd::cuda {

#define XMKD_KERNEL(name, params) \
  void name params { fail("the CUDA kernel '", #name, "' is not implemented yet; use --device cpu"); }
#include "kernels/defs/conv.def"
#undef XMKD_KERNEL

}  // namespace xmkd::cuda
