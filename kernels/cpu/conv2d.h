// CPU convolution internals shared by kernels/cpu/conv2d*.cpp and the conv2d op.
//
// Two algorithms, chosen in one place, conv2d_uses_winograd:
//
// Winograd F(2x2, 3x3) (kernels/cpu/conv2d_winograd.cpp) for 3x3 stride-1 convs with enough
// channels and tiles, in all three passes: 16 GEMMs over transformed 4x4 tiles, 2.25x fewer
// multiplications than im2col.
//
// im2col GEMM (kernels/cpu/conv2d.cpp) for everything else, and the reference the Winograd path
// is tested against: im2col + one GEMM per GROUP of images, so the GEMM has G·P·Q columns
// even when the feature map is tiny (ResNet's last stage is 2x2). For a group of G images
//   col: (C·R·S, G·P·Q)   col[(c·R + r)·S + s, j·PQ + p·Q + q] = x[j, c, p·stride - pad + r·dil, q·stride - pad + s·dil]
//   out: (K, G·P·Q)       the GEMM result (forward) or the gathered dY (backward), in the same column order
// A pointwise conv (1x1, stride 1, pad 0) whose single image already fills a GEMM skips im2col:
// x_n is its own (C, H·W) column matrix.
#pragma once
#include <cstdint>

#include "kernels/geometry.h"

namespace xmkd::cpu {

// The path rule, by shape, the same for all three passes: Winograd for 3x3, stride-1,
// dilation-1 convs with padding <= 2 (backward data is then the 3x3 conv of dy with padding
// 2 - pad), at least 16 input and 16 output channels, and at least 64 output tiles of 2x2 in the
// batch (N·⌈P/2⌉·⌈Q/2⌉); the GEMM path for the rest. On ResNet-18 at batch 32 and 64x64 images
// that is every 3x3 stride-1 conv but layer4's (2x2 maps: 32 tiles).
bool conv2d_uses_winograd(const Conv2dGeometry& g);
// Floats of scratch space the three conv2d kernels need on the path conv2d_uses_winograd picks.
int64_t conv2d_workspace_size(const Conv2dGeometry& g);

// --- im2col GEMM path ---
// How many images share one GEMM (1..N).
int64_t conv2d_images_per_gemm(const Conv2dGeometry& g);
// True when the conv runs as one plain GEMM per image with no im2col (and no workspace).
bool conv2d_is_direct_gemm(const Conv2dGeometry& g);
// Floats of scratch space the GEMM path needs: col + out for one group; 0 when direct.
int64_t conv2d_gemm_workspace_size(const Conv2dGeometry& g);
// The three passes on this path; same contracts as the conv2d kernels (kernels/defs/conv.def).
void conv2d_forward_gemm(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                         float* workspace);
void conv2d_backward_data_gemm(const Conv2dGeometry& g, const float* dy, const float* w, float* dx, float* workspace);
void conv2d_backward_weight_gemm(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db,
                                 float* workspace);

// x: (images,C,H,W) -> col: (C·R·S, images·P·Q), zero where the window hangs over the padding.
void conv2d_im2col(const Conv2dGeometry& g, const float* x, int64_t images, float* col);
// The adjoint of im2col: dx: (images,C,H,W) = Σ of the col entries that read each pixel (overwritten).
void conv2d_col2im(const Conv2dGeometry& g, const float* col, int64_t images, float* dx);

// --- Winograd F(2x2, 3x3) path: only for g.R == g.S == 3, stride 1, dilation 1, pad <= 2 ---
// How many images share one set of 16 GEMMs in the forward and backward-weight passes (1..N).
int64_t conv2d_winograd_images_per_group(const Conv2dGeometry& g);
// Floats of scratch space: the 16 transformed filters (or their gradients) and the transformed
// input and output tiles of one group of images.
int64_t conv2d_winograd_workspace_size(const Conv2dGeometry& g);
void conv2d_forward_winograd(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                             float* workspace);
void conv2d_backward_data_winograd(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                                   float* workspace);
// dw only (not nullptr): conv2d_backward_weight computes db itself on either path.
void conv2d_backward_weight_winograd(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                                     float* workspace);

}  // namespace xmkd::cpu
