// The conv2d kernels (kernels/defs/conv.def): the path rule, and convolution as im2col GEMM
// (strategy and layouts in kernels/cpu/conv2d.h). The GEMMs (cpu::gemm) stay outside OpenMP regions:
// OpenBLAS runs its own threads.
#include "kernels/cpu/conv2d.h"

#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

// A GEMM with at least this many columns keeps OpenBLAS's two threads busy; more only grows the
// column buffer past the caches.
constexpr int64_t kTargetGemmColumns = 2048;

// Winograd pays for its transforms only with enough work per transformed value. Measured with
// 2 threads against the GEMM path (fwd + dx + dw): 16x16 channels 1.2x faster, 8 into 64 channels
// 0.5x (its GEMMs are too thin); 64 tiles in the batch 1.1-1.3x, 32 tiles (ResNet's layer4)
// 0.95-1.0x, as the 16 transformed filters (16·K·C floats) are then re-read for too few tiles.
constexpr int64_t kMinWinogradChannels = 16;
constexpr int64_t kMinWinogradTiles = 64;

// out: (K, images·PQ) -> y: (images,K,P,Q), adding bias[k] when given.
void scatter_output(const Conv2dGeometry& g, const float* out, int64_t images, const float* bias, float* y) {
  const int64_t PQ = g.P * g.Q, ld = images * PQ;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t j = 0; j < images; ++j) {
    for (int64_t k = 0; k < g.K; ++k) {
      const float* src = out + k * ld + j * PQ;
      float* dst = y + (j * g.K + k) * PQ;
      if (bias) {
        const float b = bias[k];
        for (int64_t i = 0; i < PQ; ++i) dst[i] = src[i] + b;
      } else {
        std::memcpy(dst, src, sizeof(float) * PQ);
      }
    }
  }
}

// dy: (images,K,P,Q) -> out: (K, images·PQ), the column order of im2col.
void gather_output_grad(const Conv2dGeometry& g, const float* dy, int64_t images, float* out) {
  const int64_t PQ = g.P * g.Q, ld = images * PQ;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t j = 0; j < images; ++j)
    for (int64_t k = 0; k < g.K; ++k) std::memcpy(out + k * ld + j * PQ, dy + (j * g.K + k) * PQ, sizeof(float) * PQ);
}

void add_bias(const Conv2dGeometry& g, const float* bias, float* y) {
  const int64_t PQ = g.P * g.Q;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t k = 0; k < g.K; ++k) {
      float* dst = y + (n * g.K + k) * PQ;
      for (int64_t i = 0; i < PQ; ++i) dst[i] += bias[k];
    }
}

// db[k] = Σ_{n,p,q} dy[n,k,p,q]; each plane in float (vectorised), planes summed in double.
void bias_grad(const Conv2dGeometry& g, const float* dy, float* db) {
  const int64_t PQ = g.P * g.Q;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < g.K; ++k) {
    double total = 0.0;
    for (int64_t n = 0; n < g.N; ++n) {
      const float* plane = dy + (n * g.K + k) * PQ;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < PQ; ++i) s += plane[i];
      total += s;
    }
    db[k] = static_cast<float>(total);
  }
}

}  // namespace

bool conv2d_uses_winograd(const Conv2dGeometry& g) {
  const bool winograd_shape = g.R == 3 && g.S == 3 && g.stride == 1 && g.dilation == 1 && g.pad <= 2;
  const int64_t tiles = g.N * ((g.P + 1) / 2) * ((g.Q + 1) / 2);
  return winograd_shape && g.C >= kMinWinogradChannels && g.K >= kMinWinogradChannels && tiles >= kMinWinogradTiles;
}

int64_t conv2d_winograd_tile(const Conv2dGeometry& g) { return std::min(g.P, g.Q) >= 8 ? 4 : 2; }

void conv2d_workspace(const Conv2dGeometry& g, ConvPass, int64_t* floats) { *floats = conv2d_workspace_size(g); }

int64_t conv2d_workspace_size(const Conv2dGeometry& g) {
  if (conv2d_uses_winograd(g)) return conv2d_winograd_workspace_size(g, conv2d_winograd_tile(g));
  return conv2d_gemm_workspace_size(g);
}

void conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                    float* workspace) {
  if (conv2d_uses_winograd(g)) {
    conv2d_forward_winograd(g, conv2d_winograd_tile(g), x, w, bias, y, workspace);
  } else {
    conv2d_forward_gemm(g, x, w, bias, y, workspace);
  }
}

void conv2d_backward_data(const Conv2dGeometry& g, const float* dy, const float* w, float* dx, float* workspace) {
  if (conv2d_uses_winograd(g)) {
    conv2d_backward_data_winograd(g, conv2d_winograd_tile(g), dy, w, dx, workspace);
  } else {
    conv2d_backward_data_gemm(g, dy, w, dx, workspace);
  }
}

void conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db,
                            float* workspace) {
  if (!conv2d_uses_winograd(g)) {
    conv2d_backward_weight_gemm(g, x, dy, dw, db, workspace);
    return;
  }
  if (db) bias_grad(g, dy, db);
  if (dw) conv2d_backward_weight_winograd(g, conv2d_winograd_tile(g), x, dy, dw, workspace);
}

int64_t conv2d_images_per_gemm(const Conv2dGeometry& g) {
  const int64_t PQ = std::max<int64_t>(1, g.P * g.Q);
  return std::clamp<int64_t>((kTargetGemmColumns + PQ - 1) / PQ, 1, std::max<int64_t>(1, g.N));
}

bool conv2d_is_direct_gemm(const Conv2dGeometry& g) {
  return g.R == 1 && g.S == 1 && g.stride == 1 && g.pad == 0 && conv2d_images_per_gemm(g) == 1;
}

int64_t conv2d_gemm_workspace_size(const Conv2dGeometry& g) {
  if (conv2d_is_direct_gemm(g)) return 0;
  const int64_t columns = conv2d_images_per_gemm(g) * g.P * g.Q;
  return (g.C * g.R * g.S + g.K) * columns;
}

void conv2d_forward_gemm(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                         float* workspace) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, CRS = g.C * g.R * g.S;
  if (conv2d_is_direct_gemm(g)) {
    // y_n (K, HW) = W (K, C) · x_n (C, HW)
    for (int64_t n = 0; n < g.N; ++n)
      gemm(false, false, g.K, HW, g.C, 1.0f, w, x + n * g.C * HW, 0.0f, y + n * g.K * PQ);
    if (bias) add_bias(g, bias, y);
    return;
  }
  const int64_t group = conv2d_images_per_gemm(g);
  float* col = workspace;
  float* out = workspace + CRS * group * PQ;
  for (int64_t n0 = 0; n0 < g.N; n0 += group) {
    const int64_t images = std::min(group, g.N - n0), columns = images * PQ;
    conv2d_im2col(g, x + n0 * g.C * HW, images, col);
    // out (K, columns) = W (K, CRS) · col (CRS, columns)
    gemm(false, false, g.K, columns, CRS, 1.0f, w, col, 0.0f, out);
    scatter_output(g, out, images, bias, y + n0 * g.K * PQ);
  }
}

void conv2d_backward_data_gemm(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                               float* workspace) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, CRS = g.C * g.R * g.S;
  if (conv2d_is_direct_gemm(g)) {
    // dx_n (C, HW) = Wᵀ (C, K) · dy_n (K, HW)
    for (int64_t n = 0; n < g.N; ++n)
      gemm(true, false, g.C, HW, g.K, 1.0f, w, dy + n * g.K * PQ, 0.0f, dx + n * g.C * HW);
    return;
  }
  const int64_t group = conv2d_images_per_gemm(g);
  float* col = workspace;
  float* out = workspace + CRS * group * PQ;
  for (int64_t n0 = 0; n0 < g.N; n0 += group) {
    const int64_t images = std::min(group, g.N - n0), columns = images * PQ;
    gather_output_grad(g, dy + n0 * g.K * PQ, images, out);
    // col (CRS, columns) = Wᵀ (CRS, K) · dY (K, columns)
    gemm(true, false, CRS, columns, g.K, 1.0f, w, out, 0.0f, col);
    conv2d_col2im(g, col, images, dx + n0 * g.C * HW);
  }
}

void conv2d_backward_weight_gemm(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* db,
                                 float* workspace) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, CRS = g.C * g.R * g.S;
  if (db) bias_grad(g, dy, db);
  if (!dw) return;
  if (g.N == 0) {   // no GEMM runs to overwrite dw
    std::memset(dw, 0, sizeof(float) * g.K * CRS);
    return;
  }
  if (conv2d_is_direct_gemm(g)) {
    // dW (K, C) += dy_n (K, HW) · x_nᵀ (HW, C)
    for (int64_t n = 0; n < g.N; ++n)
      gemm(false, true, g.K, g.C, HW, 1.0f, dy + n * g.K * PQ, x + n * g.C * HW, n == 0 ? 0.0f : 1.0f, dw);
    return;
  }
  const int64_t group = conv2d_images_per_gemm(g);
  float* col = workspace;
  float* out = workspace + CRS * group * PQ;
  for (int64_t n0 = 0; n0 < g.N; n0 += group) {
    const int64_t images = std::min(group, g.N - n0), columns = images * PQ;
    conv2d_im2col(g, x + n0 * g.C * HW, images, col);
    gather_output_grad(g, dy + n0 * g.K * PQ, images, out);
    // dW (K, CRS) += dY (K, columns) · colᵀ (columns, CRS)
    gemm(false, true, g.K, CRS, columns, 1.0f, out, col, n0 == 0 ? 0.0f : 1.0f, dw);
  }
}

}  // namespace xmkd::cpu
