// The CUDA build links the real runtime (runtime.cu) and the kernels of kernels/cuda/*.cu. A
// kernel group without a CUDA implementation yet is listed here: its kernels throw, naming the
// kernel, instead of failing to link. Add `#include "kernels/defs/<group>.def"` below for such a
// group; remove the line when its .cu file exists. Every group has one now (conv.def:
// conv_backend.cpp).
#include "engine/error.h"
#include "kernels/kernels.h"

namespace xmkd::cuda {

#define XMKD_KERNEL(name, params) \
  void name params { fail("the CUDA kernel '", #name, "' is not implemented yet; use --device cpu"); }
#undef XMKD_KERNEL

}  // namespace xmkd::cuda
