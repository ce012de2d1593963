// The CUDA build links the real runtime (runtime.cu); kernels without a CUDA implementation yet
// throw, naming the kernel, instead of failing to link.
#include "engine/error.h"
#include "kernels/kernels.h"

namespace xmkd::cuda {

#define XMKD_KERNEL(name, params) \
  void name params { fail("the CUDA kernel '", #name, "' is not implemented yet; use --device cpu"); }
#include "kernels/defs/all.def"
#undef XMKD_KERNEL

}  // namespace xmkd::cuda
