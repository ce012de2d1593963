#include "kernels/cuda/runtime.h"

#include "kernels/cuda/check.h"

namespace xmkd::cuda {

bool compiled() { return true; }

int device_count() {
  int n = 0;
  // No driver or no device is not an error here: it means "no CUDA device present".
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void* device_malloc(size_t bytes) {
  void* p = nullptr;
  XMKD_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

void device_free(void* ptr) { XMKD_CUDA_CHECK(cudaFree(ptr)); }

void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  XMKD_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  XMKD_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  XMKD_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

void memset_zero(void* ptr, size_t bytes) { XMKD_CUDA_CHECK(cudaMemset(ptr, 0, bytes)); }

void* host_malloc_pinned(size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();   // clear the sticky error: the caller falls back to pageable memory
    return nullptr;
  }
  return p;
}

void host_free_pinned(void* ptr) { XMKD_CUDA_CHECK(cudaFreeHost(ptr)); }

void synchronize() { XMKD_CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace xmkd::cuda
