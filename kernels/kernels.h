// Every kernel, declared once. Each kernels/defs/<group>.def lists its kernels as
//   XMKD_KERNEL(name, (parameters))
// and this header includes them twice: into xmkd::cpu (kernels/cpu/, the reference) and into
// xmkd::cuda (kernels/cuda/). The two backends therefore have identical signatures by
// construction; engine/dispatch.h is the one place that chooses between them.
//
// Kernel rules: raw pointers and sizes in, results written to caller-owned memory; no kernel
// allocates behind the caller's back (scratch space is a parameter, sized by a *_workspace
// function); every kernel returns void. A shape comment sits above each declaration.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/geometry.h"

#define XMKD_KERNEL(name, params) void name params;
namespace xmkd::cpu {
#include "kernels/defs/all.def"
}
namespace xmkd::cuda {
#include "kernels/defs/all.def"
}
#undef XMKD_KERNEL
