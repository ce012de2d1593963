// Every CUDA runtime call is checked: a failure throws xmkd::Error with the call, file and line.
#pragma once
#include <cuda_runtime.h>

#include "engine/error.h"

#define XMKD_CUDA_CHECK(call)                                                          \
  do {                                                                                 \
    cudaError_t err_ = (call);                                                         \
    if (err_ != cudaSuccess)                                                           \
      ::xmkd::fail("CUDA error ", cudaGetErrorName(err_), " (", cudaGetErrorString(err_), \
                   ") in ", #call, " at ", __FILE__, ":", __LINE__);                   \
  } while (0)
