// im2col and its adjoint col2im for a group of images (layout in kernels/cpu/conv2d.h).
//
// Both walk the taps (c, r, s) in the outer loops and the images inside, so the valid output
// range of a tap (two divisions) is computed once per tap rather than once per image, and the
// per-image work is a few straight loops: on ResNet's 2x2 and 4x4 maps the bookkeeping, not
// the copying, is what costs. im2col is parallel over the rows (c, r, s) of col; col2im over
// channels c, whose dx planes no other channel touches.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/conv2d.h"

namespace xmkd::cpu {
namespace {

// The outputs o in [0, out_size) whose input o·stride + offset lies in [0, in_size): [begin, end).
struct ValidRange {
  int64_t begin, end;
};
ValidRange valid_outputs(int64_t offset, int64_t stride, int64_t in_size, int64_t out_size) {
  int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t last_in = in_size - 1 - offset;   // o·stride <= last_in
  int64_t end = last_in < 0 ? 0 : std::min(out_size, last_in / stride + 1);
  begin = std::min(begin, out_size);
  return {begin, std::max(begin, end)};
}

// Maps narrower than this take a branchy element-by-element path: for 2x2 and 4x4 maps the
// calls and loop set-up of the row-wise path cost more than the copying itself.
constexpr int64_t kNarrowMap = 8;

// dst[P·Q] = plane[p·stride + row_offset, q·stride + col_offset], 0 where that is padding.
inline void gather_plane(const Conv2dGeometry& g, const float* plane, int64_t row_offset, int64_t col_offset,
                         ValidRange rows, ValidRange cols, float* dst) {
  if (g.Q < kNarrowMap) {
    for (int64_t p = 0; p < g.P; ++p) {
      const bool row_inside = p >= rows.begin && p < rows.end;
      const int64_t base = (p * g.stride + row_offset) * g.W + col_offset;
      for (int64_t q = 0; q < g.Q; ++q)
        dst[p * g.Q + q] = (row_inside && q >= cols.begin && q < cols.end) ? plane[base + q * g.stride] : 0.0f;
    }
    return;
  }
  // Plain loops: GCC keeps the copies inline (a memcpy call per 16-64 floats would dominate).
  for (int64_t i = 0; i < rows.begin * g.Q; ++i) dst[i] = 0.0f;
  for (int64_t p = rows.begin; p < rows.end; ++p) {
    float* d = dst + p * g.Q;
    const float* src = plane + (p * g.stride + row_offset) * g.W + col_offset;
    for (int64_t q = 0; q < cols.begin; ++q) d[q] = 0.0f;
    if (g.stride == 1) {
      for (int64_t q = cols.begin; q < cols.end; ++q) d[q] = src[q];
    } else {
      for (int64_t q = cols.begin; q < cols.end; ++q) d[q] = src[q * g.stride];
    }
    for (int64_t q = cols.end; q < g.Q; ++q) d[q] = 0.0f;
  }
  for (int64_t i = rows.end * g.Q; i < g.P * g.Q; ++i) dst[i] = 0.0f;
}

}  // namespace

void conv2d_im2col(const Conv2dGeometry& g, const float* x, int64_t images, float* col) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, ld = images * PQ, RS = g.R * g.S;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < g.C * RS; ++row) {
    const int64_t c = row / RS, r = (row / g.S) % g.R, s = row % g.S;
    const int64_t row_offset = r * g.dilation - g.pad, col_offset = s * g.dilation - g.pad;
    const ValidRange rows = valid_outputs(row_offset, g.stride, g.H, g.P);
    const ValidRange cols = valid_outputs(col_offset, g.stride, g.W, g.Q);
    for (int64_t j = 0; j < images; ++j)
      gather_plane(g, x + (j * g.C + c) * HW, row_offset, col_offset, rows, cols, col + row * ld + j * PQ);
  }
}

void conv2d_col2im(const Conv2dGeometry& g, const float* col, int64_t images, float* dx) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, ld = images * PQ;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t j = 0; j < images; ++j) std::memset(dx + (j * g.C + c) * HW, 0, sizeof(float) * HW);
    for (int64_t r = 0; r < g.R; ++r) {
      const int64_t row_offset = r * g.dilation - g.pad;
      const ValidRange rows = valid_outputs(row_offset, g.stride, g.H, g.P);
      for (int64_t s = 0; s < g.S; ++s) {
        const int64_t col_offset = s * g.dilation - g.pad;
        const ValidRange cols = valid_outputs(col_offset, g.stride, g.W, g.Q);
        const float* src_row = col + ((c * g.R + r) * g.S + s) * ld;
        for (int64_t j = 0; j < images; ++j) {
          const float* src = src_row + j * PQ;
          float* plane = dx + (j * g.C + c) * HW;
          for (int64_t p = rows.begin; p < rows.end; ++p) {
            const float* sp = src + p * g.Q;
            float* d = plane + (p * g.stride + row_offset) * g.W + col_offset;
            if (g.stride == 1) {
#pragma omp simd
              for (int64_t q = cols.begin; q < cols.end; ++q) d[q] += sp[q];
            } else {
              for (int64_t q = cols.begin; q < cols.end; ++q) d[q * g.stride] += sp[q];
            }
          }
        }
      }
    }
  }
}

}  // namespace xmkd::cpu
