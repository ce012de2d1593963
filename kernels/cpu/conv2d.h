// CPU convolution internals shared by kernels/cpu/conv2d*.cpp and the conv2d op.
//
// Two algorithms, chosen in one place, conv2d_uses_winograd:
//
// Winograd F(m x m, 3x3) (kernels/cpu/conv2d_winograd.cpp) for 3x3 stride-1 convs with enough
// channels and tiles, in all three passes: F(4x4, 3x3), 36 GEMMs over transformed 6x6 tiles, 4x
// fewer multiplications than im2col, on maps of at least 8x8; F(2x2, 3x3), 16 GEMMs over 4x4
// tiles, 2.25x fewer, on smaller ones.
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
// The Winograd output tile m (m x m) for a conv conv2d_uses_winograd accepts: 4 when the forward
// output is at least 8x8, else 2. On ResNet-18 at batch 32 and 64x64 images (2 threads, one
// training step) F(4x4, 3x3) on layer1 and layer2 (16x16 and 8x8 maps) made the step 1.10x
// faster than F(2x2, 3x3) everywhere; extending it to layer3's 4x4 maps gave only 1.08x (one 6x6
// tile per image spends 36 products on 16 outputs, as many as F(2x2), with costlier transforms).
int64_t conv2d_winograd_tile(const Conv2dGeometry& g);
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

// --- Winograd F(m x m, 3x3) path: only for g.R == g.S == 3, stride 1, dilation 1, pad <= 2 ---
// m, the output tile, is 2 or 4 (any other value runs as 2; conv2d_winograd_tile picks it, the
// tests run both on any shape).
// How many images share one set of (m + 2)² GEMMs in the forward and backward-weight passes (1..N).
int64_t conv2d_winograd_images_per_group(const Conv2dGeometry& g, int64_t m);
// Floats of scratch space: the (m + 2)² transformed filters (or their gradients) and the
// transformed input and output tiles of one group of images.
int64_t conv2d_winograd_workspace_size(const Conv2dGeometry& g, int64_t m);
void conv2d_forward_winograd(const Conv2dGeometry& g, int64_t m, const float* x, const float* w, const float* bias,
                             float* y, float* workspace);
void conv2d_backward_data_winograd(const Conv2dGeometry& g, int64_t m, const float* dy, const float* w, float* dx,
                                   float* workspace);
// dw only (not nullptr): conv2d_backward_weight computes db itself on either path.
void conv2d_backward_weight_winograd(const Conv2dGeometry& g, int64_t m, const float* x, const float* dy, float* dw,
                                     float* workspace);

}  // namespace xmkd::cpu
