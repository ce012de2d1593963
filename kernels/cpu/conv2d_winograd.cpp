// Winograd F(m x m, 3x3), m = 2 or 4, for 3x3, stride-1, dilation-1 convolutions (when it runs and
// which m: kernels/cpu/conv2d.h).
//
// The output is cut into m x m tiles. Tile t = (n, th, tw) covers y[n, :, m·th + {0..m-1},
// m·tw + {0..m-1}] (the last row/column of tiles hangs over the output and is clipped) and reads
// the α x α input patch d, α = m + 2, whose corner is x[n, :, m·th - pad, m·tw - pad] (zero outside
// the image). With the F(m, 3) matrices Bᵀ (α x α), G (α x 3) and Aᵀ (m x α) (Tile<m> below: the
// ones of Lavin & Gray's "Fast Algorithms for Convolutional Neural Networks")
//   y_tk = Aᵀ [ Σ_c (G w_kc Gᵀ) ⊙ (Bᵀ d_tc B) ] A
// takes α² products per channel pair for m² outputs: 16 for 4 (2.25x fewer than the direct 36) at
// m = 2, 36 for 16 (4x fewer than 144) at m = 4. For each of the α² positions ξ = α·i + j of the
// transformed tiles the sum over c is a matrix product, so the conv is three transforms around α²
// GEMMs:
//   U: (α², K, C)  U[ξ][k][c] = (G w_kc Gᵀ)[ξ]          filters
//   V: (α², C, T)  V[ξ][c][t] = (Bᵀ d_tc B)[ξ]           input tiles of a group of images
//   M: (α², K, T)  M[ξ] = U[ξ] · V[ξ]                      one GEMM (cpu::gemm) per ξ
//   y_tk = Aᵀ m_tk A                                        output tiles (+ bias)
// T counts the tiles of a group of images (images_per_group), so the scratch space stays bounded
// on large maps; t = (n·tiles_h + th)·tiles_w + tw within the group.
//
// Backward data: dx is the stride-1 3x3 conv of dy with the filter rotated 180° and the channel
// roles swapped, padding 2 - pad: the same algorithm on filters transformed from the rotated ones,
// U'[ξ][c][k] = (G rot(w_kc) Gᵀ)[ξ].
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

// The 1-D transforms of F(m, 3). A 2-D transform applies one along the columns of a tile, then
// along its rows.
template <int M>
struct Tile;

template <>
struct Tile<2> {
  static constexpr int kAlpha = 4;
  //   Bᵀ = [1  0 -1  0]      G = [1   0   0]      Aᵀ = [1  1  1  0]
  //        [0  1  1  0]          [½   ½   ½]           [0  1 -1 -1]
  //        [0 -1  1  0]          [½  -½   ½]
  //        [0  1  0 -1]          [0   0   1]
  static void input(const float (&d)[4], float (&v)[4]) {   // Bᵀ d
    v[0] = d[0] - d[2];
    v[1] = d[1] + d[2];
    v[2] = d[2] - d[1];
    v[3] = d[1] - d[3];
  }
  static void filter(const float (&g)[3], float (&u)[4]) {   // G g
    const float outer = g[0] + g[2];
    u[0] = g[0];
    u[1] = 0.5f * (outer + g[1]);
    u[2] = 0.5f * (outer - g[1]);
    u[3] = g[2];
  }
  static void output(const float (&m)[4], float (&y)[2]) {   // Aᵀ m
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
  static void output_grad(const float (&e)[2], float (&a)[4]) {   // A e
    a[0] = e[0];
    a[1] = e[0] + e[1];
    a[2] = e[0] - e[1];
    a[3] = -e[1];
  }
  static void filter_grad(const float (&e)[4], float (&g)[3]) {   // Gᵀ e
    const float middle = 0.5f * (e[1] + e[2]);
    g[0] = e[0] + middle;
    g[1] = 0.5f * (e[1] - e[2]);
    g[2] = middle + e[3];
  }
};

template <>
struct Tile<4> {
  static constexpr int kAlpha = 6;
  //   Bᵀ = [4  0 -5  0  1  0]      G = [ ¼     0     0  ]      Aᵀ = [1  1  1  1  1  0]
  //        [0 -4 -4  1  1  0]          [-⅙   -⅙    -⅙  ]           [0  1 -1  2 -2  0]
  //        [0  4 -4 -1  1  0]          [-⅙    ⅙    -⅙  ]           [0  1  1  4  4  0]
  //        [0 -2 -1  2  1  0]          [1/24  1/12  1/6 ]           [0  1 -1  8 -8  1]
  //        [0  2 -1 -2  1  0]          [1/24 -1/12  1/6 ]
  //        [0  4  0 -5  0  1]          [ 0     0     1  ]
  static void input(const float (&d)[6], float (&v)[6]) {   // Bᵀ d
    const float a = d[4] - 4.0f * d[2], b = d[3] - 4.0f * d[1];   // rows 1, 2: d4 - 4d2 ± (d3 - 4d1)
    const float c = d[4] - d[2], e = 2.0f * (d[3] - d[1]);        // rows 3, 4: d4 - d2 ± 2(d3 - d1)
    v[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    v[1] = a + b;
    v[2] = a - b;
    v[3] = c + e;
    v[4] = c - e;
    v[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
  }
  static void filter(const float (&g)[3], float (&u)[6]) {   // G g
    const float outer = g[0] + g[2];
    const float a = (1.0f / 24.0f) * g[0] + (1.0f / 6.0f) * g[2], b = (1.0f / 12.0f) * g[1];
    u[0] = 0.25f * g[0];
    u[1] = -(1.0f / 6.0f) * (outer + g[1]);
    u[2] = -(1.0f / 6.0f) * (outer - g[1]);
    u[3] = a + b;
    u[4] = a - b;
    u[5] = g[2];
  }
  static void output(const float (&m)[6], float (&y)[4]) {   // Aᵀ m
    const float sum12 = m[1] + m[2], diff12 = m[1] - m[2];
    const float sum34 = m[3] + m[4], diff34 = m[3] - m[4];
    y[0] = m[0] + sum12 + sum34;
    y[1] = diff12 + 2.0f * diff34;
    y[2] = sum12 + 4.0f * sum34;
    y[3] = diff12 + 8.0f * diff34 + m[5];
  }
  static void output_grad(const float (&e)[4], float (&a)[6]) {   // A e
    const float even = e[0] + e[2], odd = e[1] + e[3];
    const float even4 = e[0] + 4.0f * e[2], odd8 = 2.0f * e[1] + 8.0f * e[3];
    a[0] = e[0];
    a[1] = even + odd;
    a[2] = even - odd;
    a[3] = even4 + odd8;
    a[4] = even4 - odd8;
    a[5] = e[3];
  }
  static void filter_grad(const float (&e)[6], float (&g)[3]) {   // Gᵀ e
    const float sum12 = e[1] + e[2], diff12 = e[1] - e[2];
    const float sum34 = e[3] + e[4], diff34 = e[3] - e[4];
    g[0] = 0.25f * e[0] - (1.0f / 6.0f) * sum12 + (1.0f / 24.0f) * sum34;
    g[1] = -(1.0f / 6.0f) * diff12 + (1.0f / 12.0f) * diff34;
    g[2] = -(1.0f / 6.0f) * sum12 + (1.0f / 6.0f) * sum34 + e[5];
  }
};

// A group of images holds this many output values' tiles (2048 / m² tiles): its GEMMs, with that
// many tile columns, still run near OpenBLAS's best, while V and M of a group (α²·(C + K)·T floats,
// 4 MB at 64 channels and m = 2, 2.4 MB at m = 4) stay in the caches between the transforms and
// the GEMMs. On ResNet's 16x16 maps 512 tiles beat 256, 1024 and 2048 by 5-10% at m = 2; at m = 4,
// 128 tiles made the whole training step 3% faster than 512 and 64 (and its peak memory 7 MB
// smaller than 512).
constexpr int64_t kTargetGroupOutputs = 2048;

// Tiles per inner vector loop of a transform: long enough to vectorise, short enough that the
// (channel, run) pairs spread over the threads when channels are few.
constexpr int64_t kRun = 256;

// A 3x3 stride-1 conv of in_channels planes (in_h, in_w) into out_channels planes (out_h, out_w),
// computed in m x m output tiles. The forward pass is (C, H, W) -> (K, P, Q); backward data is
// (K, P, Q) -> (C, H, W), pad 2 - pad.
struct Conv3x3 {
  int64_t N, in_channels, in_h, in_w, out_channels, out_h, out_w, pad, m;
  int64_t alpha() const { return m + 2; }
  int64_t positions() const { return alpha() * alpha(); }
  int64_t tiles_h() const { return (out_h + m - 1) / m; }
  int64_t tiles_w() const { return (out_w + m - 1) / m; }
  int64_t tiles_per_image() const { return tiles_h() * tiles_w(); }
};

Conv3x3 forward_conv(const Conv2dGeometry& g, int64_t m) { return {g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.pad, m}; }
Conv3x3 backward_data_conv(const Conv2dGeometry& g, int64_t m) {
  return {g.N, g.K, g.P, g.Q, g.C, g.H, g.W, 2 - g.pad, m};
}

// Images whose tiles share one set of GEMMs (1..N).
int64_t images_per_group(const Conv3x3& cv) {
  const int64_t target_tiles = kTargetGroupOutputs / (cv.m * cv.m);
  return std::clamp<int64_t>(target_tiles / cv.tiles_per_image(), 1, std::max<int64_t>(1, cv.N));
}
int64_t group_tiles(const Conv3x3& cv) { return images_per_group(cv) * cv.tiles_per_image(); }

// Where tile t of a group sits: its image (within the group) and the output row and column of
// its top-left element, m·th and m·tw. The same for every group and channel. int32, as the vector
// loops index with it: offsets stay below 2^31 since a group of several images has at most
// kTargetGroupOutputs / m² tiles, and a group of one image indexes within one plane.
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
    tt.row[t] = static_cast<int32_t>(cv.m * (in_image / cv.tiles_w()));
    tt.col[t] = static_cast<int32_t>(cv.m * (in_image % cv.tiles_w()));
  }
  return tt;
}

// 0 <= i < size, in one unsigned comparison.
inline bool inside(int32_t i, int32_t size) { return static_cast<uint32_t>(i) < static_cast<uint32_t>(size); }

// U[ξ·KC + at_u] = (G g Gᵀ)[ξ] for the 3x3 filter g at w + at (row-major), turned by 180° when
// Rotated.
template <int M, bool Rotated>
inline void transform_filter(const float* w, int64_t at, int64_t KC, int64_t at_u, float* U) {
  constexpr int A = Tile<M>::kAlpha;
  float t[A][3];   // G g: combine the 3 rows
#pragma GCC unroll 8
  for (int q = 0; q < 3; ++q) {
    float column[3];
#pragma GCC unroll 8
    for (int r = 0; r < 3; ++r) column[r] = Rotated ? w[at + 3 * (2 - r) + (2 - q)] : w[at + 3 * r + q];
    float out[A];
    Tile<M>::filter(column, out);
#pragma GCC unroll 8
    for (int i = 0; i < A; ++i) t[i][q] = out[i];
  }
#pragma GCC unroll 8
  for (int i = 0; i < A; ++i) {   // (G g) Gᵀ: combine the 3 columns
    float out[A];
    Tile<M>::filter(t[i], out);
#pragma GCC unroll 8
    for (int j = 0; j < A; ++j) U[(A * i + j) * KC + at_u] = out[j];
  }
}

// U[ξ][k][c] = (G w_kc Gᵀ)[ξ], or with `rotated` U[ξ][c][k] = (G rot(w_kc) Gᵀ)[ξ], rot turning the
// 3x3 filter by 180°. w: (K, C, 3, 3); taps = 9 (a variable: the vectoriser then reads w as a
// strided array, which it does not for a constant stride of 9). The vector loop runs along
// U's rows: over c, or over k when rotated.
template <int M>
void transform_filters(int64_t K, int64_t C, int64_t taps, const float* w, bool rotated, float* U) {
  const int64_t KC = K * C;
  if (!rotated) {
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; ++k) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) transform_filter<M, false>(w, (k * C + c) * taps, KC, k * C + c, U);
    }
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; ++c) {
#pragma omp simd
      for (int64_t k = 0; k < K; ++k) transform_filter<M, true>(w, (k * C + c) * taps, KC, c * K + k, U);
    }
  }
}

// The transform of every (channel, tile) patch of a group: patch (In x In) of plane c of `src`
// (channels planes of h x w per image) at row tt.row[t] - offset, column tt.col[t] - offset (zero
// where it hangs over the plane), transformed along its columns and then its rows by
// Transform (In -> Out), lands at dst[(Out·i + j)·channels·tiles + c·tiles + t].
template <int In, int Out, void (*Transform)(const float (&)[In], float (&)[Out])>
void transform_patches(int64_t channels, int64_t h, int64_t w, int64_t offset, const float* src, int64_t tiles,
                       const TileTable& tt, float* dst) {
  const int64_t plane = h * w, CT = channels * tiles;
  const int32_t H = static_cast<int32_t>(h), W = static_cast<int32_t>(w);
  const int32_t image_stride = static_cast<int32_t>(channels * plane), off = static_cast<int32_t>(offset);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t t0 = 0; t0 < tiles; t0 += kRun) {
      const float* sc = src + c * plane;
      float* dc = dst + c * tiles;
      const int64_t t1 = std::min(tiles, t0 + kRun);
#pragma omp simd
      for (int64_t t = t0; t < t1; ++t) {
        const int32_t h0 = tt.row[t] - off, w0 = tt.col[t] - off;
        const int32_t corner = tt.image[t] * image_stride + h0 * W + w0;
        float s[Out][In];   // the columns transformed
#pragma GCC unroll 8
        for (int q = 0; q < In; ++q) {
          float column[In];
#pragma GCC unroll 8
          for (int i = 0; i < In; ++i)
            column[i] = inside(h0 + i, H) && inside(w0 + q, W) ? sc[corner + i * W + q] : 0.0f;
          float out[Out];
          Transform(column, out);
#pragma GCC unroll 8
          for (int i = 0; i < Out; ++i) s[i][q] = out[i];
        }
#pragma GCC unroll 8
        for (int i = 0; i < Out; ++i) {   // then the rows
          float out[Out];
          Transform(s[i], out);
#pragma GCC unroll 8
          for (int j = 0; j < Out; ++j) dc[(Out * i + j) * CT + t] = out[j];
        }
      }
    }
  }
}

// V[ξ][c][t] = (Bᵀ d_tc B)[ξ] for the `tiles` tiles of a group   x: (images, in_channels, in_h, in_w)
template <int M>
void transform_input(const Conv3x3& cv, const float* x, int64_t tiles, const TileTable& tt, float* V) {
  constexpr int A = Tile<M>::kAlpha;
  transform_patches<A, A, Tile<M>::input>(cv.in_channels, cv.in_h, cv.in_w, cv.pad, x, tiles, tt, V);
}

// y_tk = Aᵀ m_tk A (+ bias[k]), clipped to (out_h, out_w)   y: (images, out_channels, out_h, out_w)
template <int M>
void transform_output(const Conv3x3& cv, const float* Mt, int64_t tiles, const TileTable& tt, const float* bias,
                      float* y) {
  constexpr int A = Tile<M>::kAlpha;
  const int64_t K = cv.out_channels, plane = cv.out_h * cv.out_w, KT = K * tiles;
  const int32_t H = static_cast<int32_t>(cv.out_h), W = static_cast<int32_t>(cv.out_w);
  const int32_t image_stride = static_cast<int32_t>(K * plane);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t t0 = 0; t0 < tiles; t0 += kRun) {
      const float b = bias ? bias[k] : 0.0f;
      const float* m = Mt + k * tiles;
      float* yk = y + k * plane;
      const int64_t t1 = std::min(tiles, t0 + kRun);
#pragma omp simd
      for (int64_t t = t0; t < t1; ++t) {
        float s[M][A];   // Aᵀ m: combine the rows
#pragma GCC unroll 8
        for (int q = 0; q < A; ++q) {
          float column[A];
#pragma GCC unroll 8
          for (int i = 0; i < A; ++i) column[i] = m[(A * i + q) * KT + t];
          float out[M];
          Tile<M>::output(column, out);
#pragma GCC unroll 8
          for (int i = 0; i < M; ++i) s[i][q] = out[i];
        }
        const int32_t p0 = tt.row[t], q0 = tt.col[t], corner = tt.image[t] * image_stride + p0 * W + q0;
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) {   // (Aᵀ m) A: combine the columns
          float out[M];
          Tile<M>::output(s[i], out);
#pragma GCC unroll 8
          for (int j = 0; j < M; ++j)
            if (inside(p0 + i, H) && inside(q0 + j, W)) yk[corner + i * W + j] = out[j] + b;
        }
      }
    }
  }
}

// dY[ξ][k][t] = (A dy_tk Aᵀ)[ξ], dy zero past (P, Q)   dy: (images, K, P, Q)
template <int M>
void transform_output_grad(const Conv3x3& cv, const float* dy, int64_t tiles, const TileTable& tt, float* dY) {
  constexpr int A = Tile<M>::kAlpha;
  transform_patches<M, A, Tile<M>::output_grad>(cv.out_channels, cv.out_h, cv.out_w, 0, dy, tiles, tt, dY);
}

// dw[k,c] = Gᵀ dU[·][k][c] G   dw: (K, C, 3, 3), taps = 9 (a variable, as in transform_filters)
template <int M>
void transform_filter_grad(int64_t K, int64_t C, int64_t taps, const float* dU, float* dw) {
  constexpr int A = Tile<M>::kAlpha;
  const int64_t KC = K * C;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < K; ++k) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const int64_t kc = k * C + c;   // e[i][q] = dU[(α·i + q)·KC + kc]
      float s[3][A];                  // Gᵀ e: combine the rows into 3
#pragma GCC unroll 8
      for (int q = 0; q < A; ++q) {
        float column[A];
#pragma GCC unroll 8
        for (int i = 0; i < A; ++i) column[i] = dU[(A * i + q) * KC + kc];
        float out[3];
        Tile<M>::filter_grad(column, out);
#pragma GCC unroll 8
        for (int i = 0; i < 3; ++i) s[i][q] = out[i];
      }
#pragma GCC unroll 8
      for (int i = 0; i < 3; ++i) {   // (Gᵀ e) G: combine the columns into 3
        float out[3];
        Tile<M>::filter_grad(s[i], out);
#pragma GCC unroll 8
        for (int j = 0; j < 3; ++j) dw[kc * taps + 3 * i + j] = out[j];
      }
    }
  }
}

// y = the conv cv of x with transformed filters U (α², out_channels, in_channels).
// scratch: V, M and the tile table of one group.
template <int M>
void winograd_conv(const Conv3x3& cv, const float* x, const float* U, const float* bias, float* y, float* scratch) {
  const int64_t Cin = cv.in_channels, Cout = cv.out_channels, per_image = cv.tiles_per_image();
  const int64_t group = images_per_group(cv), max_tiles = group * per_image, positions = cv.positions();
  float* V = scratch;
  float* Mt = V + positions * Cin * max_tiles;
  const TileTable tt = fill_tile_table(cv, max_tiles, Mt + positions * Cout * max_tiles);
  for (int64_t n0 = 0; n0 < cv.N; n0 += group) {
    const int64_t tiles = std::min(group, cv.N - n0) * per_image;
    transform_input<M>(cv, x + n0 * Cin * cv.in_h * cv.in_w, tiles, tt, V);
    for (int64_t xi = 0; xi < positions; ++xi) {
      // M[ξ] (Cout, tiles) = U[ξ] (Cout, Cin) · V[ξ] (Cin, tiles)
      gemm(false, false, Cout, tiles, Cin, 1.0f, U + xi * Cout * Cin, V + xi * Cin * tiles, 0.0f,
           Mt + xi * Cout * tiles);
    }
    transform_output<M>(cv, Mt, tiles, tt, bias, y + n0 * Cout * cv.out_h * cv.out_w);
  }
}

// The forward conv of x, or with `rotated` the backward-data conv of dy (x here), into y.
template <int M>
void conv_pass(const Conv2dGeometry& g, bool rotated, const float* x, const float* w, const float* bias, float* y,
               float* workspace) {
  const Conv3x3 cv = rotated ? backward_data_conv(g, M) : forward_conv(g, M);
  float* U = workspace;
  transform_filters<M>(g.K, g.C, g.R * g.S, w, rotated, U);
  winograd_conv<M>(cv, x, U, bias, y, U + cv.positions() * g.K * g.C);
}

template <int M>
void backward_weight(const Conv2dGeometry& g, const float* x, const float* dy, float* dw, float* workspace) {
  const Conv3x3 cv = forward_conv(g, M);
  const int64_t per_image = cv.tiles_per_image(), group = images_per_group(cv), max_tiles = group * per_image;
  const int64_t positions = cv.positions();
  float* dU = workspace;
  float* V = dU + positions * g.K * g.C;
  float* dY = V + positions * g.C * max_tiles;
  const TileTable tt = fill_tile_table(cv, max_tiles, dY + positions * g.K * max_tiles);
  for (int64_t n0 = 0; n0 < g.N; n0 += group) {
    const int64_t tiles = std::min(group, g.N - n0) * per_image;
    transform_input<M>(cv, x + n0 * g.C * g.H * g.W, tiles, tt, V);
    transform_output_grad<M>(cv, dy + n0 * g.K * g.P * g.Q, tiles, tt, dY);
    for (int64_t xi = 0; xi < positions; ++xi) {
      // dU[ξ] (K, C) += dY[ξ] (K, tiles) · V[ξ]ᵀ (tiles, C)
      gemm(false, true, g.K, g.C, tiles, 1.0f, dY + xi * g.K * tiles, V + xi * g.C * tiles, n0 == 0 ? 0.0f : 1.0f,
           dU + xi * g.K * g.C);
    }
  }
  if (g.N == 0) std::memset(dU, 0, sizeof(float) * positions * g.K * g.C);
  transform_filter_grad<M>(g.K, g.C, g.R * g.S, dU, dw);
}

// The tile the kernels run for a requested m: 4, or else 2.
int64_t run_tile(int64_t m) { return m == 4 ? 4 : 2; }

}  // namespace

int64_t conv2d_winograd_images_per_group(const Conv2dGeometry& g, int64_t m) {
  return images_per_group(forward_conv(g, run_tile(m)));
}

int64_t conv2d_winograd_workspace_size(const Conv2dGeometry& g, int64_t m) {
  // U or dU, then for one group of the forward conv (also backward weight, with dY for M) or of
  // the backward-data conv: V, M and the tile table.
  auto group_floats = [&](const Conv3x3& cv) {
    const int64_t tiles = group_tiles(cv);
    return cv.positions() * (cv.in_channels + cv.out_channels) * tiles + tile_table_floats(tiles);
  };
  const Conv3x3 fwd = forward_conv(g, run_tile(m));
  return fwd.positions() * g.K * g.C + std::max(group_floats(fwd), group_floats(backward_data_conv(g, run_tile(m))));
}

void conv2d_forward_winograd(const Conv2dGeometry& g, int64_t m, const float* x, const float* w, const float* bias,
                             float* y, float* workspace) {
  (m == 4 ? conv_pass<4> : conv_pass<2>)(g, false, x, w, bias, y, workspace);
}

void conv2d_backward_data_winograd(const Conv2dGeometry& g, int64_t m, const float* dy, const float* w, float* dx,
                                   float* workspace) {
  (m == 4 ? conv_pass<4> : conv_pass<2>)(g, true, dy, w, nullptr, dx, workspace);
}

void conv2d_backward_weight_winograd(const Conv2dGeometry& g, int64_t m, const float* x, const float* dy, float* dw,
                                     float* workspace) {
  (m == 4 ? backward_weight<4> : backward_weight<2>)(g, x, dy, dw, workspace);
}

}  // namespace xmkd::cpu
