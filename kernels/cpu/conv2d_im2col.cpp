// im2col and its adjoint col2im for a group of images (layout in kernels/cpu/conv2d.h).
// Parallel over (image, channel): each pair owns distinct rows of col and one plane of dx,
// so threads never write the same memory.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/conv2d.h"

namespace xmkd::cpu {
namespace {

// The output columns q whose input column q·stride + offset lies inside [0, W): [begin, end).
struct ValidRange {
  int64_t begin, end;
};
ValidRange valid_outputs(int64_t offset, int64_t stride, int64_t in_size, int64_t out_size) {
  int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t last_in = in_size - 1 - offset;   // q·stride <= last_in
  int64_t end = last_in < 0 ? 0 : std::min(out_size, last_in / stride + 1);
  begin = std::min(begin, out_size);
  return {begin, std::max(begin, end)};
}

}  // namespace

void conv2d_im2col(const Conv2dGeometry& g, const float* x, int64_t images, float* col) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, ld = images * PQ;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t j = 0; j < images; ++j) {
    for (int64_t c = 0; c < g.C; ++c) {
      const float* plane = x + (j * g.C + c) * HW;
      for (int64_t r = 0; r < g.R; ++r) {
        const int64_t row_offset = r * g.dilation - g.pad;
        const ValidRange rows = valid_outputs(row_offset, g.stride, g.H, g.P);
        for (int64_t s = 0; s < g.S; ++s) {
          const int64_t col_offset = s * g.dilation - g.pad;
          const ValidRange cols = valid_outputs(col_offset, g.stride, g.W, g.Q);
          float* dst = col + ((c * g.R + r) * g.S + s) * ld + j * PQ;
          std::memset(dst, 0, sizeof(float) * rows.begin * g.Q);
          for (int64_t p = rows.begin; p < rows.end; ++p) {
            float* d = dst + p * g.Q;
            const float* src = plane + (p * g.stride + row_offset) * g.W + col_offset;
            for (int64_t q = 0; q < cols.begin; ++q) d[q] = 0.0f;
            if (g.stride == 1) {
              std::memcpy(d + cols.begin, src + cols.begin, sizeof(float) * (cols.end - cols.begin));
            } else {
              for (int64_t q = cols.begin; q < cols.end; ++q) d[q] = src[q * g.stride];
            }
            for (int64_t q = cols.end; q < g.Q; ++q) d[q] = 0.0f;
          }
          std::memset(dst + rows.end * g.Q, 0, sizeof(float) * (g.P - rows.end) * g.Q);
        }
      }
    }
  }
}

void conv2d_col2im(const Conv2dGeometry& g, const float* col, int64_t images, float* dx) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, ld = images * PQ;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t j = 0; j < images; ++j) {
    for (int64_t c = 0; c < g.C; ++c) {
      float* plane = dx + (j * g.C + c) * HW;
      std::memset(plane, 0, sizeof(float) * HW);
      for (int64_t r = 0; r < g.R; ++r) {
        const int64_t row_offset = r * g.dilation - g.pad;
        const ValidRange rows = valid_outputs(row_offset, g.stride, g.H, g.P);
        for (int64_t s = 0; s < g.S; ++s) {
          const int64_t col_offset = s * g.dilation - g.pad;
          const ValidRange cols = valid_outputs(col_offset, g.stride, g.W, g.Q);
          const float* src = col + ((c * g.R + r) * g.S + s) * ld + j * PQ;
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
