// Winograd F(2x2, 3x3) for 3x3, stride-1, dilation-1 convolutions (when it runs: kernels/cpu/conv2d.h).
//
// The output is cut into 2x2 tiles. Tile t = (n, th, tw) covers y[n, :, 2th + {0,1}, 2tw + {0,1}]
// (the last row/column of tiles hangs over an odd output and is clipped) and reads the 4x4 input
// patch d whose corner is x[n, :, 2th - pad, 2tw - pad] (zero outside the image). With
//   Bᵀ = [1  0 -1  0]      G = [1   0   0]      Aᵀ = [1  1  1  0]
//        [0  1  1  0]          [½   ½   ½]           [0  1 -1 -1]
//        [0 -1  1  0]          [½  -½   ½]
//        [0  1  0 -1]          [0   0   1]
// one output tile is  y_tk = Aᵀ [ Σ_c (G w_kc Gᵀ) ⊙ (Bᵀ d_tc B) ] A : 16 products per channel pair
// instead of 36. For each of the 16 positions ξ = 4i + j of the 4x4 transformed tiles the sum over
// c is a matrix product, so the conv is three transforms around 16 GEMMs:
//   U: (16, K, C)  U[ξ][k][c] = (G w[k,c] Gᵀ)[ξ]         filters
//   V: (16, C, T)  V[ξ][c][t] = (Bᵀ d_tc B)[ξ]           input tiles of a group of images
//   M: (16, K, T)  M[ξ] = U[ξ] · V[ξ]                      one GEMM (cpu::gemm) per ξ
//   y_tk = Aᵀ m_tk A                                        output tiles (+ bias)
// T counts the tiles of a group of images (images_per_group), so the scratch space stays bounded
// on large maps; t = (n·tiles_h + th)·tiles_w + tw within the group.
//
// Backward data: dx is the stride-1 3x3 conv of dy with the filter rotated 180° and the channel
// roles swapped, padding 2 - pad. Rotation commutes with the filter transform up to a relabelling
// (G·J = Π·G, J reversing 3 entries and Π swapping the first and last of 4), so the transformed
// rotated filter is U with rows and columns 0↔3 swapped: the GEMMs read U[Π ξ]ᵀ and no second
// filter transform exists.
// Backward weight: y_t = Aᵀ (U ⊙ V_t) A is linear in U, so ∂L/∂U = Σ_t (A dy_t Aᵀ) ⊙ V_t and
// ∂L/∂w = Gᵀ (∂L/∂U) G; the sum over tiles is again one GEMM per ξ:
//   dU[ξ] (K, C) = Σ_groups dY[ξ] (K, T) · V[ξ]ᵀ (T, C),  dY[ξ][k][t] = (A dy_tk Aᵀ)[ξ].
//
// The tile transforms are OpenMP loops over (channel, run of tiles) whose inner loop runs over the
// tiles of a run as one vector loop: each tile finds its patch through a table of tile positions
// (the same for every channel), so small maps vectorise across images as well as large ones
// across a row. The GEMMs run between the transforms: OpenBLAS threads itself and must not be
// called from an OpenMP region.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/conv2d.h"
#include "kernels/kernels.h"

namespace xmkd::cpu {
namespace {

constexpr int64_t kPositions = 16;   // ξ = 4i + j over a 4x4 transformed tile

// A GEMM with this many tile columns still runs near OpenBLAS's best, while V and M of a group
// (16·(C + K)·T floats, 4 MB at 64 channels) stay in the caches between the transforms and the
// GEMMs; on ResNet's 16x16 maps 512 beat 256, 1024 and 2048 by 5-10%.
constexpr int64_t kTargetGroupTiles = 512;

// Tiles per inner vector loop of a transform: long enough to vectorise, short enough that the
// (channel, run) pairs spread over the threads when channels are few.
constexpr int64_t kRun = 256;

// A 3x3 stride-1 conv of in_channels planes (in_h, in_w) into out_channels planes (out_h, out_w).
// The forward pass is (C, H, W) -> (K, P, Q); backward data is (K, P, Q) -> (C, H, W), pad 2 - pad.
struct Conv3x3 {
  int64_t N, in_channels, in_h, in_w, out_channels, out_h, out_w, pad;
  int64_t tiles_h() const { return (out_h + 1) / 2; }
  int64_t tiles_w() const { return (out_w + 1) / 2; }
  int64_t tiles_per_image() const { return tiles_h() * tiles_w(); }
};

Conv3x3 forward_conv(const Conv2dGeometry& g) { return {g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.pad}; }
Conv3x3 backward_data_conv(const Conv2dGeometry& g) { return {g.N, g.K, g.P, g.Q, g.C, g.H, g.W, 2 - g.pad}; }

// Images whose tiles share one set of GEMMs (1..N).
int64_t images_per_group(const Conv3x3& cv) {
  return std::clamp<int64_t>(kTargetGroupTiles / cv.tiles_per_image(), 1, std::max<int64_t>(1, cv.N));
}
int64_t group_tiles(const Conv3x3& cv) { return images_per_group(cv) * cv.tiles_per_image(); }

// Where tile t of a group sits: its image (within the group) and the output row and column of
// its top-left element, 2th and 2tw. The same for every group and channel. int32, as the vector
// loops index with it: offsets stay below 2^31 since a group of several images has at most
// kTargetGroupTiles tiles, and a group of one image indexes within one plane.
struct TileTable {
  int32_t* image;
  int32_t* row;
  int32_t* col;
};

// Floats of workspace a TileTable of `tiles` tiles takes (three int32 per tile).
int64_t tile_table_floats(int64_t tiles) { return 3 * tiles; }

TileTable fill_tile_table(const Conv3x3& cv, int64_t tiles, float* space) {
  static_assert(sizeof(int32_t) == sizeof(float), "the tile table lives in the float workspace");
  TileTable tt{reinterpret_cast<int32_t*>(space), reinterpret_cast<int32_t*>(space) + tiles,
               reinterpret_cast<int32_t*>(space) + 2 * tiles};
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t in_image = t % cv.tiles_per_image();
    tt.image[t] = static_cast<int32_t>(t / cv.tiles_per_image());
    tt.row[t] = static_cast<int32_t>(2 * (in_image / cv.tiles_w()));
    tt.col[t] = static_cast<int32_t>(2 * (in_image % cv.tiles_w()));
  }
  return tt;
}

// 0 <= i < size, in one unsigned comparison.
inline bool inside(int32_t i, int32_t size) { return static_cast<uint32_t>(i) < static_cast<uint32_t>(size); }

// U[ξ][k][c] = (G w[k,c] Gᵀ)[ξ]   w: (K, C, 3, 3), taps = 9 (a variable: the vectoriser then
// reads w as a strided array, which it does not for a constant stride of 9)
void transform_filters(int64_t K, int64_t C, int64_t taps, const float* w, float* U) {
  const int64_t KC = K * C;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < K; ++k) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const int64_t at = (k * C + c) * taps;   // g[r][s] = w[at + 3r + s]
      float t[4][3];                             // G g: combine the 3 rows into 4
      for (int q = 0; q < 3; ++q) {
        const float g0 = w[at + q], g1 = w[at + 3 + q], g2 = w[at + 6 + q];
        t[0][q] = g0;
        t[1][q] = 0.5f * (g0 + g2 + g1);
        t[2][q] = 0.5f * (g0 + g2 - g1);
        t[3][q] = g2;
      }
      const int64_t kc = k * C + c;
      for (int i = 0; i < 4; ++i) {   // (G g) Gᵀ: combine the 3 columns into 4
        const float outer = t[i][0] + t[i][2];
        U[(4 * i + 0) * KC + kc] = t[i][0];
        U[(4 * i + 1) * KC + kc] = 0.5f * (outer + t[i][1]);
        U[(4 * i + 2) * KC + kc] = 0.5f * (outer - t[i][1]);
        U[(4 * i + 3) * KC + kc] = t[i][2];
      }
    }
  }
}

// V[ξ][c][t] = (Bᵀ d_tc B)[ξ] for the `tiles` tiles of a group   x: (images, in_channels, in_h, in_w)
void transform_input(const Conv3x3& cv, const float* x, int64_t tiles, const TileTable& tt, float* V) {
  const int64_t C = cv.in_channels, plane = cv.in_h * cv.in_w, CT = C * tiles;
  const int32_t H = static_cast<int32_t>(cv.in_h), W = static_cast<int32_t>(cv.in_w);
  const int32_t image_stride = static_cast<int32_t>(C * plane), pad = static_cast<int32_t>(cv.pad);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t t0 = 0; t0 < tiles; t0 += kRun) {
      const float* xc = x + c * plane;
      float* v = V + c * tiles;
      const int64_t t1 = std::min(tiles, t0 + kRun);
#pragma omp simd
      for (int64_t t = t0; t < t1; ++t) {
        const int32_t h0 = tt.row[t] - pad, w0 = tt.col[t] - pad;
        const int32_t corner = tt.image[t] * image_stride + h0 * W + w0;
        float d[4][4];   // the patch, zero where it hangs over the image
        for (int i = 0; i < 4; ++i)
          for (int q = 0; q < 4; ++q)
            d[i][q] = inside(h0 + i, H) && inside(w0 + q, W) ? xc[corner + i * W + q] : 0.0f;
        float s[4][4];   // Bᵀ d: combine the 4 rows
        for (int q = 0; q < 4; ++q) {
          s[0][q] = d[0][q] - d[2][q];
          s[1][q] = d[1][q] + d[2][q];
          s[2][q] = d[2][q] - d[1][q];
          s[3][q] = d[1][q] - d[3][q];
        }
        for (int i = 0; i < 4; ++i) {   // (Bᵀ d) B: combine the 4 columns
          v[(4 * i + 0) * CT + t] = s[i][0] - s[i][2];
          v[(4 * i + 1) * CT + t] = s[i][1] + s[i][2];
          v[(4 * i + 2) * CT + t] = s[i][2] - s[i][1];
          v[(4 * i + 3) * CT + t] = s[i][1] - s[i][3];
        }
      }
    }
  }
}

// y_tk = Aᵀ m_tk A (+ bias[k]), clipped to (out_h, out_w)   y: (images, out_channels, out_h, out_w)
void transform_output(const Conv3x3& cv, const float* M, int64_t tiles, const TileTable& tt, const float* bias,
                      float* y) {
  const int64_t K = cv.out_channels, plane = cv.out_h * cv.out_w, KT = K * tiles;
  const int32_t H = static_cast<int32_t>(cv.out_h), W = static_cast<int32_t>(cv.out_w);
  const int32_t image_stride = static_cast<int32_t>(K * plane);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t t0 = 0; t0 < tiles; t0 += kRun) {
      const float b = bias ? bias[k] : 0.0f;
      const float* m = M + k * tiles;
      float* yk = y + k * plane;
      const int64_t t1 = std::min(tiles, t0 + kRun);
#pragma omp simd
      for (int64_t t = t0; t < t1; ++t) {
        float s[2][4];   // Aᵀ m: combine the 4 rows into 2
        for (int q = 0; q < 4; ++q) {
          const float m0 = m[q * KT + t], m1 = m[(4 + q) * KT + t];
          const float m2 = m[(8 + q) * KT + t], m3 = m[(12 + q) * KT + t];
          s[0][q] = m0 + m1 + m2;
          s[1][q] = m1 - m2 - m3;
        }
        const int32_t p0 = tt.row[t], q0 = tt.col[t], corner = tt.image[t] * image_stride + p0 * W + q0;
        const bool second_row = inside(p0 + 1, H), second_col = inside(q0 + 1, W);
        for (int i = 0; i < 2; ++i) {   // (Aᵀ m) A: combine the 4 columns into 2
          const bool row_inside = i == 0 || second_row;
          if (row_inside) yk[corner + i * W] = s[i][0] + s[i][1] + s[i][2] + b;
          if (row_inside && second_col) yk[corner + i * W + 1] = s[i][1] - s[i][2] - s[i][3] + b;
        }
      }
    }
  }
}

// dY[ξ][k][t] = (A dy_tk Aᵀ)[ξ], dy zero past (P, Q)   dy: (images, K, P, Q)
void transform_output_grad(const Conv3x3& cv, const float* dy, int64_t tiles, const TileTable& tt, float* dY) {
  const int64_t K = cv.out_channels, plane = cv.out_h * cv.out_w, KT = K * tiles;
  const int32_t H = static_cast<int32_t>(cv.out_h), W = static_cast<int32_t>(cv.out_w);
  const int32_t image_stride = static_cast<int32_t>(K * plane);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t t0 = 0; t0 < tiles; t0 += kRun) {
      const float* dyk = dy + k * plane;
      float* d = dY + k * tiles;
      const int64_t t1 = std::min(tiles, t0 + kRun);
#pragma omp simd
      for (int64_t t = t0; t < t1; ++t) {
        const int32_t p0 = tt.row[t], q0 = tt.col[t], corner = tt.image[t] * image_stride + p0 * W + q0;
        float e[2][2];   // the 2x2 output gradient tile, zero past the output
        for (int i = 0; i < 2; ++i)
          for (int q = 0; q < 2; ++q)
            e[i][q] = inside(p0 + i, H) && inside(q0 + q, W) ? dyk[corner + i * W + q] : 0.0f;
        float s[4][2];   // A e: expand the 2 rows to 4
        for (int q = 0; q < 2; ++q) {
          s[0][q] = e[0][q];
          s[1][q] = e[0][q] + e[1][q];
          s[2][q] = e[0][q] - e[1][q];
          s[3][q] = -e[1][q];
        }
        for (int i = 0; i < 4; ++i) {   // (A e) Aᵀ: expand the 2 columns to 4
          d[(4 * i + 0) * KT + t] = s[i][0];
          d[(4 * i + 1) * KT + t] = s[i][0] + s[i][1];
          d[(4 * i + 2) * KT + t] = s[i][0] - s[i][1];
          d[(4 * i + 3) * KT + t] = -s[i][1];
        }
      }
    }
  }
}

// dw[k,c] = Gᵀ dU[·][k][c] G   dw: (K, C, 3, 3), taps = 9 (a variable, as in transform_filters)
void transform_filter_grad(int64_t K, int64_t C, int64_t taps, const float* dU, float* dw) {
  const int64_t KC = K * C;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < K; ++k) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const int64_t kc = k * C + c;   // e[i][q] = dU[(4i + q)·KC + kc]
      float s[3][4];                  // Gᵀ e: combine the 4 rows into 3
      for (int q = 0; q < 4; ++q) {
        const float e0 = dU[q * KC + kc], e1 = dU[(4 + q) * KC + kc];
        const float e2 = dU[(8 + q) * KC + kc], e3 = dU[(12 + q) * KC + kc];
        s[0][q] = e0 + 0.5f * (e1 + e2);
        s[1][q] = 0.5f * (e1 - e2);
        s[2][q] = 0.5f * (e1 + e2) + e3;
      }
      for (int i = 0; i < 3; ++i) {   // (Gᵀ e) G: combine the 4 columns into 3
        dw[kc * taps + 3 * i + 0] = s[i][0] + 0.5f * (s[i][1] + s[i][2]);
        dw[kc * taps + 3 * i + 1] = 0.5f * (s[i][1] - s[i][2]);
        dw[kc * taps + 3 * i + 2] = 0.5f * (s[i][1] + s[i][2]) + s[i][3];
      }
    }
  }
}

// The position whose transformed filter, rotated 180°, sits at ξ: rows and columns 0↔3 swapped.
int64_t rotated_position(int64_t xi) {
  const int64_t swap[4] = {3, 1, 2, 0};
  return 4 * swap[xi / 4] + swap[xi % 4];
}

// y = the conv cv of x with transformed filters U (16, out_channels, in_channels), or, when
// `rotated`, with the rotated filters held by U as (16, in_channels, out_channels).
// scratch: V, M and the tile table of one group.
void winograd_conv(const Conv3x3& cv, const float* x, const float* U, bool rotated, const float* bias, float* y,
                   float* scratch) {
  const int64_t Cin = cv.in_channels, Cout = cv.out_channels, per_image = cv.tiles_per_image();
  const int64_t group = images_per_group(cv), max_tiles = group * per_image;
  float* V = scratch;
  float* M = V + kPositions * Cin * max_tiles;
  const TileTable tt = fill_tile_table(cv, max_tiles, M + kPositions * Cout * max_tiles);
  for (int64_t n0 = 0; n0 < cv.N; n0 += group) {
    const int64_t tiles = std::min(group, cv.N - n0) * per_image;
    transform_input(cv, x + n0 * Cin * cv.in_h * cv.in_w, tiles, tt, V);
    for (int64_t xi = 0; xi < kPositions; ++xi) {
      // M[ξ] (Cout, tiles) = U[ξ] (Cout, Cin) · V[ξ] (Cin, tiles), U read transposed when rotated
      const float* u = U + (rotated ? rotated_position(xi) : xi) * Cout * Cin;
      gemm(rotated, false, Cout, tiles, Cin, 1.0f, u, V + xi * Cin * tiles, 0.0f, M + xi * Cout * tiles);
    }
    transform_output(cv, M, tiles, tt, bias, y + n0 * Cout * cv.out_h * cv.out_w);
  }
}

}  // namespace

int64_t conv2d_winograd_images_per_group(const Conv2dGeometry& g) { return images_per_group(forward_conv(g)); }

int64_t conv2d_winograd_workspace_size(const Conv2dGeometry& g) {
  // U or dU, then for one group of the forward conv (also backward weight, with dY for M) or of
  // the backward-data conv: V, M and the tile table.
  auto group_floats = [&](const Conv3x3& cv) {
    const int64_t tiles = group_tiles(cv);
    return kPositions * (cv.in_channels + cv.out_channels) * tiles + tile_table_floats(tiles);
  };
  return kPositions * g.K * g.C + std::max(group_floats(forward_conv(g)), group_floats(backward_data_conv(g)));
}

void conv2d_forward_winograd(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
                             float* workspace) {
  float* U = workspace;
  transform_filters(g.K, g.C, g.R * g.S, w, U);
  winograd_conv(forward_conv(g), x, U, false, bias, y, U + kPositions * g.K * g.C);
}

void conv2d_backward_data_winograd(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                                   float* workspace) {
  float* U = workspace;
  transform_filters(g.K, g.C, g.R * g.S, w, U);
  winograd_conv(backward_data_conv(g), dy, U, true, nullptr, dx, U + kPositions * g.K * g.C);
}

void conv2d_backward_weight_winograd(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                                     float* workspace) {
  const Conv3x3 cv = forward_conv(g);
  const int64_t per_image = cv.tiles_per_image(), group = images_per_group(cv), max_tiles = group * per_image;
  float* dU = workspace;
  float* V = dU + kPositions * g.K * g.C;
  float* dY = V + kPositions * g.C * max_tiles;
  const TileTable tt = fill_tile_table(cv, max_tiles, dY + kPositions * g.K * max_tiles);
  for (int64_t n0 = 0; n0 < g.N; n0 += group) {
    const int64_t tiles = std::min(group, g.N - n0) * per_image;
    transform_input(cv, x + n0 * g.C * g.H * g.W, tiles, tt, V);
    transform_output_grad(cv, dy + n0 * g.K * g.P * g.Q, tiles, tt, dY);
    for (int64_t xi = 0; xi < kPositions; ++xi) {
      // dU[ξ] (K, C) += dY[ξ] (K, tiles) · V[ξ]ᵀ (tiles, C)
      gemm(false, true, g.K, g.C, tiles, 1.0f, dY + xi * g.K * tiles, V + xi * g.C * tiles, n0 == 0 ? 0.0f : 1.0f,
           dU + xi * g.K * g.C);
    }
  }
  if (g.N == 0) std::memset(dU, 0, sizeof(float) * kPositions * g.K * g.C);
  transform_filter_grad(g.K, g.C, g.R * g.S, dU, dw);
}

}  // namespace xmkd::cpu
