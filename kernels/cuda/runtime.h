// The small part of the CUDA runtime the engine itself needs: device query, raw memory, copies.
// Implemented in runtime.cu; a build without CUDA links no_cuda_stubs.cpp, where every call
// except compiled() and device_count() throws "built without CUDA".
#pragma once
#include <cstddef>

namespace xmkd::cuda {

bool compiled();                 // was this binary built with the CUDA backend?
int device_count();              // 0 when not compiled or no device/driver is present

void* device_malloc(size_t bytes);   // raw cudaMalloc; the engine goes through its caching allocator
void device_free(void* ptr);
void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);
void memset_zero(void* ptr, size_t bytes);
// Page-locked host memory (fast, DMA-able host-device copies); nullptr when it cannot be had
// (no driver, no device, or the limit reached) — callers then fall back to ordinary memory.
void* host_malloc_pinned(size_t bytes);
void host_free_pinned(void* ptr);
void synchronize();

}  // namespace xmkd::cuda
