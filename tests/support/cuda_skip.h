// The one way a gpu-labelled test skips: without a usable device, with the reason the runtime
// gives (the CUDA error name, e.g. "no CUDA device: cudaErrorInsufficientDriver (...)", or "built
// without CUDA"), so that scripts/test_gpu.sh can tell a missing driver from a missing card.
#pragma once
#include <gtest/gtest.h>

#include "engine/device.h"
#include "kernels/cuda/runtime.h"

#define XMKD_SKIP_WITHOUT_CUDA() \
  if (!::xmkd::cuda_available()) GTEST_SKIP() << ::xmkd::cuda::device_status()
