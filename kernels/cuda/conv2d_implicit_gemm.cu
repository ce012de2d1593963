// Convolution as implicit GEMM (kernels/defs/conv.def), in FP32 or on TF32 tensor cores.
//
// What it computes: each pass is one GEMM  C(M,N) = Σ_k A(M,k) · B(k,N)  whose operands are never
// materialised: A and B are gathered straight from the tensors with the conv's index arithmetic
// (zero where a window hangs over the padding) and C is written straight into the output.
//   forward          M = N·P·Q (n,p,q)   N = K   k = C·R·S (c,r,s)
//                    A = x[n, c, p·st - pad + r·dil, q·st - pad + s·dil]   B = w[k', (c,r,s)]
//                    C -> y[n,k',p,q] (+ bias[k'])
//   backward data    M = N·H·W (n,h,w)   N = C   k = K·R·S (k',r,s)
//                    A = dy[n,k',p,q] for the output (p,q) whose tap (r,s) reads (h,w), i.e.
//                        h + pad - r·dil = p·st (0 when not a multiple of st or p is outside
//                        [0,P), likewise q): a gather, so no atomics
//                    B = w[k',c,r,s]     C -> dx[n,c,h,w]
//   backward weight  M = C·R·S (c,r,s)   N = K   k = N·P·Q (n,p,q)
//                    A = x[n, c, p·st - pad + r·dil, q·st - pad + s·dil]   B = dy[n,k',p,q]
//                    C -> dw[k',(c,r,s)]: dW = dY · colᵀ computed as its transpose
// Layout: in every pass consecutive m are consecutive addresses of the output, so consecutive
// threads (which own consecutive m) store to consecutive addresses. Indices are int: the host
// checks that every tensor, and every padded coordinate, stays 4096 below 2^31 (to_shape).
//
// Geometry: a block of kThreads = 256 threads computes a 64x64 tile of C, stepping through k in
// slices of kSlice = 8. Each slice of A (8x64) and B (8x64) is staged in shared memory, two
// elements of each per thread; the next slice is loaded into registers while the current one is
// multiplied. Each thread loads along the operand's contiguous direction (Problem::kAAlongK,
// kBAlongK), so a warp's loads are coalesced where the tensor allows.
//   FP32: thread t owns the 4x4 micro-tile m = t%16 + 16i, n = t/16 + 16j, accumulated with
//         fmaf (the library is built with --fmad=false; the fusion here is deliberate).
//   TF32: warp w owns rows 16·(w%4).. and columns 32·(w/4).. of the tile: two 16x16 wmma
//         accumulators (m16n16k8, inputs rounded to TF32, FP32 sums); the tile goes through shared
//         memory to be stored with the same coalesced pattern.
// Backward weight splits its long reduction (k = N·P·Q) over gridDim.z when the tiles alone
// cannot fill the GPU: each split writes its partial tile to the workspace, then a second kernel
// sums the splits in split order (deterministic). db: one block per channel, summed in double.
#include <mma.h>

#include <algorithm>
#include <climits>

#include "kernels/cuda/backends.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

constexpr int kTile = 64;    // BM = BN
constexpr int kSlice = 8;    // BK: one wmma k-step
constexpr int kPad = 4;      // shared rows of 68 floats: fewer bank conflicts; a multiple of 4 as wmma needs
constexpr int kLoadsPerThread = kTile * kSlice / kThreads;
static_assert(kLoadsPerThread * kThreads == kTile * kSlice, "the slices are loaded in whole rounds");
static_assert(kThreads == 256, "the micro-tile and warp layouts assume 16x16 threads, 8 warps");

// Split-k for backward weight: enough blocks for two waves of the device's SMs, each split at
// least kMinSplitLength long (shorter ones spend more on the extra pass than they save). Read
// from the current device, so the workspace size and the launch agree on one device.
int fill_blocks() { return 2 * std::max(1, multiprocessor_count()); }
constexpr int kMinSplitLength = 256;
constexpr int kMaxSplits = 64;

struct ConvShape {
  int N, C, H, W, K, R, S, P, Q, stride, pad, dil;
};

ConvShape to_shape(const Conv2dGeometry& g) {
  // Headroom below INT_MAX for the sums the kernels form past a tensor's end: a tile's last row
  // (m0 + 63), a slice's end (k0 + 8), a split's end, and padded coordinates (p·st - pad + r·dil).
  constexpr int64_t kLimit = INT_MAX - 4096;
  const int64_t largest = std::max({g.N * g.C * g.H * g.W, g.N * g.K * g.P * g.Q, g.K * g.C * g.R * g.S,
                                    std::max(g.H, g.W) + 2 * g.pad + g.dilation * (std::max(g.R, g.S) - 1),
                                    std::max(g.P, g.Q) * g.stride});
  XMKD_CHECK(largest <= kLimit, "conv2d (CUDA): a size of ", largest,
             " is beyond the kernels' 32-bit indices (at most ", kLimit, ")");
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return {i(g.N), i(g.C), i(g.H), i(g.W), i(g.K), i(g.R), i(g.S), i(g.P), i(g.Q), i(g.stride), i(g.pad), i(g.dilation)};
}

// ---- The three GEMMs: sizes, the gathers of A and B, the store of C (see the top of the file).
// row(m) / col(n) hold what a thread precomputes once for its fixed m (n); a(row, k) / b(col, k)
// are called only for m < M, n < N, k < the block's end of k.

struct ForwardProblem {
  ConvShape s;
  const float* x;
  const float* weight;
  const float* bias;   // or nullptr
  float* y;
  static constexpr bool kAAlongK = false;   // consecutive m: consecutive pixels of x
  static constexpr bool kBAlongK = true;    // consecutive k: one contiguous row of w
  __host__ __device__ int M() const { return s.N * s.P * s.Q; }
  __host__ __device__ int N() const { return s.K; }
  __host__ __device__ int Kdim() const { return s.C * s.R * s.S; }

  struct Row {
    int image, h0, w0;   // x offset of image n; the window's top-left corner
  };
  __device__ Row row(int m) const {
    const int PQ = s.P * s.Q, n = m / PQ, pq = m % PQ;
    return {n * s.C * s.H * s.W, (pq / s.Q) * s.stride - s.pad, (pq % s.Q) * s.stride - s.pad};
  }
  __device__ float a(const Row& row, int k) const {
    const int RS = s.R * s.S, c = k / RS, r = k % RS / s.S, t = k % s.S;
    const int h = row.h0 + r * s.dil, w = row.w0 + t * s.dil;
    return (h >= 0 && h < s.H && w >= 0 && w < s.W) ? x[row.image + (c * s.H + h) * s.W + w] : 0.0f;
  }
  struct Col {
    int offset;   // the filter's row of w
  };
  __device__ Col col(int n) const { return {n * Kdim()}; }
  __device__ float b(const Col& col, int k) const { return weight[col.offset + k]; }
  __device__ void store(int m, int n, int split, float v) const {
    const int PQ = s.P * s.Q, image = m / PQ, pq = m % PQ;
    y[(image * s.K + n) * PQ + pq] = bias ? v + bias[n] : v;
  }
};

struct BackwardDataProblem {
  ConvShape s;
  const float* dy;
  const float* weight;
  float* dx;
  static constexpr bool kAAlongK = false;   // consecutive m: consecutive pixels of dy (stride 1)
  static constexpr bool kBAlongK = true;    // consecutive k: the taps (r,s) of one filter plane
  __host__ __device__ int M() const { return s.N * s.H * s.W; }
  __host__ __device__ int N() const { return s.C; }
  __host__ __device__ int Kdim() const { return s.K * s.R * s.S; }

  struct Row {
    int image, hp, wp;   // dy offset of image n; h + pad, w + pad
  };
  __device__ Row row(int m) const {
    const int HW = s.H * s.W, n = m / HW, hw = m % HW;
    return {n * s.K * s.P * s.Q, hw / s.W + s.pad, hw % s.W + s.pad};
  }
  __device__ float a(const Row& row, int k) const {
    const int RS = s.R * s.S, kk = k / RS, r = k % RS / s.S, t = k % s.S;
    const int ph = row.hp - r * s.dil, pw = row.wp - t * s.dil;   // p·st and q·st if they exist
    if (ph < 0 || pw < 0 || ph % s.stride != 0 || pw % s.stride != 0) return 0.0f;
    const int p = ph / s.stride, q = pw / s.stride;
    return (p < s.P && q < s.Q) ? dy[row.image + (kk * s.P + p) * s.Q + q] : 0.0f;
  }
  struct Col {
    int c;
  };
  __device__ Col col(int n) const { return {n}; }
  __device__ float b(const Col& col, int k) const {
    const int RS = s.R * s.S;
    return weight[((k / RS) * s.C + col.c) * RS + k % RS];
  }
  __device__ void store(int m, int n, int split, float v) const {
    const int HW = s.H * s.W;
    dx[((m / HW) * s.C + n) * HW + m % HW] = v;
  }
};

struct BackwardWeightProblem {
  ConvShape s;
  const float* x;
  const float* dy;
  float* out;   // dw, or the workspace's partial sums (split, K, C·R·S) when split
  static constexpr bool kAAlongK = true;    // consecutive k: consecutive pixels of x (stride 1)
  static constexpr bool kBAlongK = true;    // consecutive k: consecutive pixels of dy
  __host__ __device__ int M() const { return s.C * s.R * s.S; }
  __host__ __device__ int N() const { return s.K; }
  __host__ __device__ int Kdim() const { return s.N * s.P * s.Q; }

  struct Row {
    int plane, h_off, w_off;   // x offset of channel c in an image; r·dil - pad, s·dil - pad
  };
  __device__ Row row(int m) const {
    const int RS = s.R * s.S, c = m / RS, r = m % RS / s.S, t = m % s.S;
    return {c * s.H * s.W, r * s.dil - s.pad, t * s.dil - s.pad};
  }
  __device__ float a(const Row& row, int k) const {
    const int PQ = s.P * s.Q, n = k / PQ, pq = k % PQ;
    const int h = (pq / s.Q) * s.stride + row.h_off, w = (pq % s.Q) * s.stride + row.w_off;
    return (h >= 0 && h < s.H && w >= 0 && w < s.W) ? x[n * s.C * s.H * s.W + row.plane + h * s.W + w] : 0.0f;
  }
  struct Col {
    int plane;   // dy offset of channel k' in an image
  };
  __device__ Col col(int n) const { return {n * s.P * s.Q}; }
  __device__ float b(const Col& col, int k) const {
    const int PQ = s.P * s.Q;
    return dy[(k / PQ) * s.K * PQ + col.plane + k % PQ];
  }
  __device__ void store(int m, int n, int split, float v) const {
    out[(static_cast<int64_t>(split) * s.K + n) * M() + m] = v;
  }
};

// ---- The tiled GEMM shared by the FP32 and TF32 kernels.

// Element e of a slice (0 <= e < kTile·kSlice) -> its (k, m) place: k fastest when along_k.
__device__ void slice_place(bool along_k, int e, int& k, int& mn) {
  if (along_k) {
    k = e % kSlice;
    mn = e / kSlice;
  } else {
    mn = e % kTile;
    k = e / kTile;
  }
}

// One thread's share of the slices: the same places in every slice, so the row / column
// bookkeeping is done once. fetch() reads a slice into registers, put() stores them to shared.
template <class Problem>
struct SliceLoader {
  typename Problem::Row rows[kLoadsPerThread];
  typename Problem::Col cols[kLoadsPerThread];
  int a_k[kLoadsPerThread], a_m[kLoadsPerThread], b_k[kLoadsPerThread], b_n[kLoadsPerThread];
  bool a_inside[kLoadsPerThread], b_inside[kLoadsPerThread];
  float a_regs[kLoadsPerThread], b_regs[kLoadsPerThread];

  __device__ SliceLoader(const Problem& p, int m0, int n0) {
#pragma unroll
    for (int i = 0; i < kLoadsPerThread; ++i) {
      const int e = threadIdx.x + i * kThreads;
      slice_place(Problem::kAAlongK, e, a_k[i], a_m[i]);
      slice_place(Problem::kBAlongK, e, b_k[i], b_n[i]);
      a_inside[i] = m0 + a_m[i] < p.M();
      b_inside[i] = n0 + b_n[i] < p.N();
      rows[i] = a_inside[i] ? p.row(m0 + a_m[i]) : typename Problem::Row{};
      cols[i] = b_inside[i] ? p.col(n0 + b_n[i]) : typename Problem::Col{};
    }
  }
  __device__ void fetch(const Problem& p, int k0, int k_end) {
#pragma unroll
    for (int i = 0; i < kLoadsPerThread; ++i) {
      const int ka = k0 + a_k[i], kb = k0 + b_k[i];
      a_regs[i] = a_inside[i] && ka < k_end ? p.a(rows[i], ka) : 0.0f;
      b_regs[i] = b_inside[i] && kb < k_end ? p.b(cols[i], kb) : 0.0f;
    }
  }
  __device__ void put(float (*As)[kTile + kPad], float (*Bs)[kTile + kPad]) const {
#pragma unroll
    for (int i = 0; i < kLoadsPerThread; ++i) {
      As[a_k[i]][a_m[i]] = a_regs[i];
      Bs[b_k[i]][b_n[i]] = b_regs[i];
    }
  }
};

// The block's range of k: split blockIdx.z of the reduction.
__device__ void block_k_range(int k_dim, int k_chunk, int& k_begin, int& k_end) {
  k_begin = blockIdx.z * k_chunk;
  k_end = min(k_dim, k_begin + k_chunk);
}

template <class Problem>
__global__ void __launch_bounds__(kThreads) implicit_gemm_fp32_kernel(Problem p, int k_chunk) {
  __shared__ float As[kSlice][kTile + kPad];   // As[k][m]
  __shared__ float Bs[kSlice][kTile + kPad];   // Bs[k][n]
  const int m0 = blockIdx.x * kTile, n0 = blockIdx.y * kTile;
  const int tm = threadIdx.x % 16, tn = threadIdx.x / 16;
  int k_begin, k_end;
  block_k_range(p.Kdim(), k_chunk, k_begin, k_end);

  SliceLoader<Problem> loader(p, m0, n0);
  float acc[4][4] = {};
  loader.fetch(p, k_begin, k_end);
  for (int k0 = k_begin; k0 < k_end; k0 += kSlice) {
    __syncthreads();   // everyone is done reading the previous slice
    loader.put(As, Bs);
    __syncthreads();
    if (k0 + kSlice < k_end) loader.fetch(p, k0 + kSlice, k_end);   // in flight during the math
#pragma unroll
    for (int kk = 0; kk < kSlice; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][tm + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tn + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int m = m0 + tm + 16 * i, n = n0 + tn + 16 * j;
      if (m < p.M() && n < p.N()) p.store(m, n, blockIdx.z, acc[i][j]);
    }
}

template <class Problem>
__global__ void __launch_bounds__(kThreads) implicit_gemm_tf32_kernel(Problem p, int k_chunk) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  __shared__ __align__(32) float As[kSlice][kTile + kPad];   // As[k][m]: A column-major
  __shared__ __align__(32) float Bs[kSlice][kTile + kPad];   // Bs[k][n]: B row-major
  __shared__ __align__(32) float Cs[kTile][kTile + kPad];    // Cs[n][m]: C column-major
  const int m0 = blockIdx.x * kTile, n0 = blockIdx.y * kTile;
  const int warp = threadIdx.x / 32;
  const int wm = (warp % 4) * 16, wn = (warp / 4) * 32;
  int k_begin, k_end;
  block_k_range(p.Kdim(), k_chunk, k_begin, k_end);

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2];
  wmma::fill_fragment(acc[0], 0.0f);
  wmma::fill_fragment(acc[1], 0.0f);
  SliceLoader<Problem> loader(p, m0, n0);
  loader.fetch(p, k_begin, k_end);
  for (int k0 = k_begin; k0 < k_end; k0 += kSlice) {
    __syncthreads();
    loader.put(As, Bs);
    __syncthreads();
    if (k0 + kSlice < k_end) loader.fetch(p, k0 + kSlice, k_end);
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> a;
    wmma::load_matrix_sync(a, &As[0][wm], kTile + kPad);
    for (int t = 0; t < a.num_elements; ++t) a.x[t] = wmma::__float_to_tf32(a.x[t]);
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b;
      wmma::load_matrix_sync(b, &Bs[0][wn + 16 * j], kTile + kPad);
      for (int t = 0; t < b.num_elements; ++t) b.x[t] = wmma::__float_to_tf32(b.x[t]);
      wmma::mma_sync(acc[j], a, b, acc[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < 2; ++j) wmma::store_matrix_sync(&Cs[wn + 16 * j][wm], acc[j], kTile + kPad, wmma::mem_col_major);
  __syncthreads();
  for (int e = threadIdx.x; e < kTile * kTile; e += kThreads) {
    const int mm = e % kTile, nn = e / kTile, m = m0 + mm, n = n0 + nn;
    if (m < p.M() && n < p.N()) p.store(m, n, blockIdx.z, Cs[nn][mm]);
  }
#else
  __trap();   // TF32 tensor cores need sm_80 or newer
#endif
}

template <class Problem>
void launch_gemm(const Problem& p, int splits, int k_chunk, bool tf32) {
  const int64_t tiles_m = (p.M() + kTile - 1) / kTile, tiles_n = (p.N() + kTile - 1) / kTile;
  XMKD_CHECK(tiles_n <= 65535, "conv2d (CUDA): ", p.N(), " channels exceed the grid's 65535 column tiles");
  const dim3 grid(static_cast<unsigned>(tiles_m), static_cast<unsigned>(tiles_n), static_cast<unsigned>(splits));
  if (tf32) {
    implicit_gemm_tf32_kernel<Problem><<<grid, kThreads, 0, stream()>>>(p, k_chunk);
  } else {
    implicit_gemm_fp32_kernel<Problem><<<grid, kThreads, 0, stream()>>>(p, k_chunk);
  }
  XMKD_CUDA_CHECK_LAUNCH();
}

// How backward weight splits k = N·P·Q (N >= 1): `count` splits of `chunk` (a multiple of kSlice).
struct Split {
  int count, chunk;
};
Split weight_split(const ConvShape& s) {
  const int k_dim = s.N * s.P * s.Q;
  const int tiles = ((s.C * s.R * s.S + kTile - 1) / kTile) * ((s.K + kTile - 1) / kTile);
  const int wanted = (fill_blocks() + tiles - 1) / tiles;
  const int count = std::clamp(wanted, 1, std::max(1, std::min(kMaxSplits, k_dim / kMinSplitLength)));
  const int chunk = ((k_dim + count - 1) / count + kSlice - 1) / kSlice * kSlice;
  return {(k_dim + chunk - 1) / chunk, chunk};
}

// dw[i] = Σ_split partial[split][i], in split order.
__global__ void sum_splits_kernel(int64_t n, int splits, const float* partial, float* dw) {
  XMKD_GRID_STRIDE(i, n) {
    float total = 0.0f;
    for (int split = 0; split < splits; ++split) total += partial[split * n + i];
    dw[i] = total;
  }
}

// db[k] = Σ_{n,p,q} dy[n,k,p,q]: block k, in double.
__global__ void bias_grad_kernel(ConvShape s, const float* dy, float* db) {
  const int k = blockIdx.x, PQ = s.P * s.Q;
  const int64_t count = static_cast<int64_t>(s.N) * PQ;
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < count; j += kThreads) sum += dy[(j / PQ * s.K + k) * PQ + j % PQ];
  sum = block_sum(sum);
  if (threadIdx.x == 0) db[k] = static_cast<float>(sum);
}

}  // namespace

int64_t conv2d_implicit_gemm_workspace_size(const Conv2dGeometry& g) {
  if (g.N == 0) return 0;
  const Split split = weight_split(to_shape(g));
  return split.count > 1 ? split.count * g.K * g.C * g.R * g.S : 0;
}

void conv2d_forward_implicit_gemm(const Conv2dGeometry& g, const float* x, const float* w, const float* bias,
                                  float* y, bool tf32) {
  if (g.N == 0) return;
  const ForwardProblem p{to_shape(g), x, w, bias, y};
  launch_gemm(p, 1, p.Kdim(), tf32);
}

void conv2d_backward_data_implicit_gemm(const Conv2dGeometry& g, const float* dy, const float* w, float* dx,
                                        bool tf32) {
  if (g.N == 0) return;
  const BackwardDataProblem p{to_shape(g), dy, w, dx};
  launch_gemm(p, 1, p.Kdim(), tf32);
}

void conv2d_backward_weight_implicit_gemm(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                                          float* db, float* workspace, bool tf32) {
  const ConvShape s = to_shape(g);
  if (db) {
    if (g.N == 0) {
      memset_zero(db, sizeof(float) * g.K);
    } else {
      bias_grad_kernel<<<static_cast<unsigned>(g.K), kThreads, 0, stream()>>>(s, dy, db);
      XMKD_CUDA_CHECK_LAUNCH();
    }
  }
  if (!dw) return;
  const int64_t dw_size = g.K * g.C * g.R * g.S;
  if (g.N == 0) {   // no GEMM runs to overwrite dw
    memset_zero(dw, sizeof(float) * dw_size);
    return;
  }
  const Split split = weight_split(s);
  XMKD_CHECK(split.count == 1 || workspace, "conv2d_backward_weight (CUDA): needs a workspace of ",
             conv2d_implicit_gemm_workspace_size(g), " floats");
  float* out = split.count > 1 ? workspace : dw;
  launch_gemm(BackwardWeightProblem{s, x, dy, out}, split.count, split.chunk, tf32);
  if (split.count > 1) XMKD_LAUNCH_OVER(dw_size, sum_splits_kernel, dw_size, split.count, workspace, dw);
}

}  // namespace xmkd::cuda
