// The distillation ops' kernels (kernels/defs/distill.def), as kernels/cpu/distill.cpp.
// Layout: "rows" are (R, C) row-major; z-score works over dim 1 of (outer, C, inner), the C
// values of position p at position_base(p) + c·inner (positions.cuh).
//
// Geometry: z-score and log-sum-exp use positions.cuh's groups (a warp per position when
// inner == 1, a thread per position otherwise), sums in double as on the CPU, so they agree with
// it to the last float bit or so (double sums in another order). Everything else is one thread
// per output element, grid-stride; with --fmad=false each is the CPU's expression rounded in the
// same order, so bit-identical, except expf (CUDA's, within 2 ulp) in sigmoid and in
// logsumexp_rows_backward.
//
// scatter_add_rows (select_rows' backward) is a gather over runs of equal consecutive indices:
// the first (k, c) of a run sums g over the run in order of k, as the CPU does, and adds that sum
// to dx, which the caller zeroed. When equal indices are adjacent (unique or sorted index lists,
// which is what the distillation losses pass) every element of dx gets exactly one add onto 0:
// deterministic and bit-identical to the CPU. Only an index repeated in separate runs has two
// runs adding to one element; that add is an atomicAdd, whose order (and so the last bit of the
// sum) depends on thread timing.
#include <cmath>

#include "kernels/cuda/positions.cuh"
#include "kernels/kernels.h"

namespace xmkd::cuda {
namespace {

template <int kLanes>
__global__ void zscore_forward_kernel(const float* x, int64_t outer, int64_t C, int64_t inner, float eps, float* y,
                                      float* stdev) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const int64_t base = position_base(p, C, inner);
    double sum = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) sum += x[base + c * inner];
    const double mean = group_reduce<kLanes>(sum, SumOp{}) / static_cast<double>(C);
    double squares = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) {
      const double u = x[base + c * inner] - mean;
      squares += u * u;
    }
    const double sd = sqrt(group_reduce<kLanes>(squares, SumOp{}) / static_cast<double>(C - 1));
    const double denominator = sd + static_cast<double>(eps);
    for (int64_t c = lane; c < C; c += kLanes)
      y[base + c * inner] = static_cast<float>((x[base + c * inner] - mean) / denominator);
    if (lane == 0) stdev[p] = static_cast<float>(sd);
  }
}

// dx = (g − mean(g)) / (stdev + eps) − y · Σ_c(g·y) / ((C − 1) · stdev), second term 0 where stdev = 0
template <int kLanes>
__global__ void zscore_backward_kernel(const float* y, const float* stdev, const float* g, int64_t outer, int64_t C,
                                       int64_t inner, float eps, float* dx) {
  const int lane = group_lane<kLanes>();
  for (int64_t p = first_position<kLanes>(); p < outer * inner; p += position_stride<kLanes>()) {
    const int64_t base = position_base(p, C, inner);
    double g_sum = 0.0, gy_sum = 0.0;
    for (int64_t c = lane; c < C; c += kLanes) {
      g_sum += g[base + c * inner];
      gy_sum += static_cast<double>(g[base + c * inner]) * y[base + c * inner];
    }
    const double g_mean = group_reduce<kLanes>(g_sum, SumOp{}) / static_cast<double>(C);
    gy_sum = group_reduce<kLanes>(gy_sum, SumOp{});
    const double sd = stdev[p];
    const double denominator = sd + static_cast<double>(eps);
    const double through_stdev = sd > 0.0 ? gy_sum / (static_cast<double>(C - 1) * sd) : 0.0;
    for (int64_t c = lane; c < C; c += kLanes) {
      const int64_t j = base + c * inner;
      dx[j] = static_cast<float>((g[j] - g_mean) / denominator - y[j] * through_stdev);
    }
  }
}

// Thread j writes rows[j] = rows[(o·inner + i)·C + c] from x[(o·C + c)·inner + i].
__global__ void dim1_to_rows_kernel(const float* x, int64_t outer, int64_t C, int64_t inner, float* rows) {
  XMKD_GRID_STRIDE(j, outer * inner * C) {
    const int64_t c = j % C, position = j / C, o = position / inner, i = position % inner;
    rows[j] = x[(o * C + c) * inner + i];
  }
}

// Thread j writes x[j] = x[(o·C + c)·inner + i] from rows[(o·inner + i)·C + c].
__global__ void rows_to_dim1_kernel(const float* rows, int64_t outer, int64_t C, int64_t inner, float* x) {
  XMKD_GRID_STRIDE(j, outer * C * inner) {
    const int64_t i = j % inner, c = j / inner % C, o = j / (inner * C);
    x[j] = rows[(o * inner + i) * C + c];
  }
}

__global__ void gather_rows_kernel(const float* x, int64_t C, const int64_t* index, int64_t K, float* y) {
  XMKD_GRID_STRIDE(j, K * C) y[j] = x[index[j / C] * C + j % C];
}

// See the file comment: thread (k, c) acts only when k starts a run of equal indices.
__global__ void scatter_add_rows_kernel(const float* g, int64_t C, const int64_t* index, int64_t K, float* dx) {
  XMKD_GRID_STRIDE(j, K * C) {
    const int64_t k = j / C, c = j % C, row = index[k];
    if (k > 0 && index[k - 1] == row) continue;
    float run_sum = g[j];
    for (int64_t next = k + 1; next < K && index[next] == row; ++next) run_sum += g[next * C + c];
    atomicAdd(dx + row * C + c, run_sum);
  }
}

__global__ void add_at_labels_kernel(const float* x, const int64_t* labels, int64_t R, int64_t C, float value,
                                     float* y) {
  XMKD_GRID_STRIDE(j, R * C) y[j] = j % C == labels[j / C] ? x[j] + value : x[j];
}

__global__ void gather_labels_forward_kernel(const float* x, const int64_t* labels, int64_t R, int64_t C, float* y) {
  XMKD_GRID_STRIDE(r, R) y[r] = x[r * C + labels[r]];
}

__global__ void gather_labels_backward_kernel(const float* g, const int64_t* labels, int64_t R, int64_t C,
                                              float* dx) {
  XMKD_GRID_STRIDE(j, R * C) dx[j] = j % C == labels[j / C] ? g[j / C] : 0.0f;
}

// A warp per row (rows are positions with inner = 1): y[r] = m + log Σ_c exp(x[r, c] − m), m = max.
__global__ void logsumexp_rows_forward_kernel(const float* x, int64_t R, int64_t C, float* y) {
  const int lane = group_lane<32>();
  for (int64_t r = first_position<32>(); r < R; r += position_stride<32>()) {
    const float* row = x + r * C;
    float m = -INFINITY;
    for (int64_t c = lane; c < C; c += 32) m = MaxOp{}(m, row[c]);
    m = group_reduce<32>(m, MaxOp{});
    double sum = 0.0;
    for (int64_t c = lane; c < C; c += 32) sum += exp(static_cast<double>(row[c] - m));
    sum = group_reduce<32>(sum, SumOp{});
    if (lane == 0) y[r] = static_cast<float>(m + log(sum));
  }
}

// dx = g[r] · exp(x[r, c] − y[r])
__global__ void logsumexp_rows_backward_kernel(const float* x, const float* y, const float* g, int64_t R, int64_t C,
                                               float* dx) {
  XMKD_GRID_STRIDE(j, R * C) dx[j] = g[j / C] * expf(x[j] - y[j / C]);
}

__global__ void sigmoid_forward_kernel(int64_t n, const float* x, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

__global__ void sigmoid_backward_kernel(int64_t n, const float* y, const float* g, float* dx) {
  XMKD_GRID_STRIDE(i, n) dx[i] = g[i] * y[i] * (1.0f - y[i]);
}

__global__ void reciprocal_forward_kernel(int64_t n, const float* x, float* y) {
  XMKD_GRID_STRIDE(i, n) y[i] = 1.0f / x[i];
}

__global__ void reciprocal_backward_kernel(int64_t n, const float* y, const float* g, float* dx) {
  XMKD_GRID_STRIDE(i, n) dx[i] = -g[i] * y[i] * y[i];
}

}  // namespace

void zscore_forward(const float* x, int64_t outer, int64_t C, int64_t inner, float eps, float* y, float* stdev) {
  if (outer * inner == 0 || C == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), zscore_forward_kernel, x, outer, C, inner, eps,
                        y, stdev);
}

void zscore_backward(const float* y, const float* stdev, const float* g, int64_t outer, int64_t C, int64_t inner,
                     float eps, float* dx) {
  if (outer * inner == 0 || C == 0) return;
  XMKD_LAUNCH_POSITIONS(inner, position_blocks(outer * inner, inner), zscore_backward_kernel, y, stdev, g, outer, C,
                        inner, eps, dx);
}

void dim1_to_rows(const float* x, int64_t outer, int64_t C, int64_t inner, float* rows) {
  XMKD_LAUNCH_OVER(outer * C * inner, dim1_to_rows_kernel, x, outer, C, inner, rows);
}

void rows_to_dim1(const float* rows, int64_t outer, int64_t C, int64_t inner, float* x) {
  XMKD_LAUNCH_OVER(outer * C * inner, rows_to_dim1_kernel, rows, outer, C, inner, x);
}

void gather_rows(const float* x, int64_t C, const int64_t* index, int64_t K, float* y) {
  XMKD_LAUNCH_OVER(K * C, gather_rows_kernel, x, C, index, K, y);
}

void scatter_add_rows(const float* g, int64_t C, const int64_t* index, int64_t K, float* dx) {
  XMKD_LAUNCH_OVER(K * C, scatter_add_rows_kernel, g, C, index, K, dx);
}

void add_at_labels_forward(const float* x, const int64_t* labels, int64_t R, int64_t C, float value, float* y) {
  XMKD_LAUNCH_OVER(R * C, add_at_labels_kernel, x, labels, R, C, value, y);
}

void gather_labels_forward(const float* x, const int64_t* labels, int64_t R, int64_t C, float* y) {
  XMKD_LAUNCH_OVER(R, gather_labels_forward_kernel, x, labels, R, C, y);
}

void gather_labels_backward(const float* g, const int64_t* labels, int64_t R, int64_t C, float* dx) {
  XMKD_LAUNCH_OVER(R * C, gather_labels_backward_kernel, g, labels, R, C, dx);
}

void logsumexp_rows_forward(const float* x, int64_t R, int64_t C, float* y) {
  if (R == 0 || C == 0) return;
  logsumexp_rows_forward_kernel<<<position_blocks(R, 1), kThreads, 0, stream()>>>(x, R, C, y);
  XMKD_CUDA_CHECK_LAUNCH();
}

void logsumexp_rows_backward(const float* x, const float* y, const float* g, int64_t R, int64_t C, float* dx) {
  XMKD_LAUNCH_OVER(R * C, logsumexp_rows_backward_kernel, x, y, g, R, C, dx);
}

void sigmoid_forward(int64_t n, const float* x, float* y) { XMKD_LAUNCH_OVER(n, sigmoid_forward_kernel, n, x, y); }

void sigmoid_backward(int64_t n, const float* y, const float* g, float* dx) {
  XMKD_LAUNCH_OVER(n, sigmoid_backward_kernel, n, y, g, dx);
}

void reciprocal_forward(int64_t n, const float* x, float* y) {
  XMKD_LAUNCH_OVER(n, reciprocal_forward_kernel, n, x, y);
}

void reciprocal_backward(int64_t n, const float* y, const float* g, float* dx) {
  XMKD_LAUNCH_OVER(n, reciprocal_backward_kernel, n, y, g, dx);
}

}  // namespace xmkd::cuda
