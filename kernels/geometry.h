// Plain structs describing the geometry of a kernel call, shared by both backends.
#pragma once
#include <cstdint>

namespace xmkd {

// x: (N,C,H,W)  w: (K,C,R,S)  y: (N,K,P,Q)
// P = (H + 2*pad - dilation*(R-1) - 1) / stride + 1, likewise Q.
struct Conv2dGeometry {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t K = 0, R = 0, S = 0;
  int64_t P = 0, Q = 0;
  int64_t stride = 1, pad = 0, dilation = 1;
};

// The three passes of a convolution, each with its own scratch space (conv2d_workspace).
enum class ConvPass { Forward, BackwardData, BackwardWeight };

// x: (N,C,H,W) -> y: (N,C,P,Q) with a square window.
struct Pool2dGeometry {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t P = 0, Q = 0;
  int64_t kernel = 1, stride = 1, pad = 0;
};

}  // namespace xmkd
