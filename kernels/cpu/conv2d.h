// CPU convolution internals shared by kernels/cpu/conv2d*.cpp and the conv2d op.
//
// Strategy: im2col + one cblas_sgemm per GROUP of images, so the GEMM has G·P·Q columns even when
// the feature map is tiny (ResNet's last stage is 2x2). For a group of G images
//   col: (C·R·S, G·P·Q)   col[(c·R + r)·S + s, j·PQ + p·Q + q] = x[j, c, p·stride - pad + r·dil, q·stride - pad + s·dil]
//   out: (K, G·P·Q)       the GEMM result (forward) or the gathered dY (backward), in the same column order
// A pointwise conv (1x1, stride 1, pad 0) whose single image already fills a GEMM skips im2col:
// x_n is its own (C, H·W) column matrix.
#pragma once
#include <cstdint>

#include "kernels/geometry.h"

namespace xmkd::cpu {

// How many images share one GEMM (1..N).
int64_t conv2d_images_per_gemm(const Conv2dGeometry& g);
// True when the conv runs as one plain GEMM per image with no im2col (and no workspace).
bool conv2d_is_direct_gemm(const Conv2dGeometry& g);
// Floats of scratch space the three conv2d kernels need: col + out for one group; 0 when direct.
int64_t conv2d_workspace_size(const Conv2dGeometry& g);

// x: (images,C,H,W) -> col: (C·R·S, images·P·Q), zero where the window hangs over the padding.
void conv2d_im2col(const Conv2dGeometry& g, const float* x, int64_t images, float* col);
// The adjoint of im2col: dx: (images,C,H,W) = Σ of the col entries that read each pixel (overwritten).
void conv2d_col2im(const Conv2dGeometry& g, const float* col, int64_t images, float* dx);

}  // namespace xmkd::cpu
