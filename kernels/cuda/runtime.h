// The small part of the CUDA runtime the engine itself needs: device query, raw memory, copies.
// Implemented in runtime.cu; a build without CUDA links no_cuda_stubs.cpp, where every call
// except compiled(), device_count() and library_versions() throws "built without CUDA".
//
// Ordering: every kernel and copy runs on one stream per device (kernels/cuda/launch.cuh), so
// device work happens in the order it was issued. The copies below that involve host memory
// return only when the copy is complete: the caller may read dst (device-to-host) or reuse src
// (host-to-device) at once. Device-to-device copies and memset_zero are merely queued.
#pragma once
#include <cstddef>
#include <string>

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
void synchronize();              // waits for all work queued on the current device

// What `xmkd info` prints about a device.
struct DeviceProperties {
  std::string name;
  int major = 0, minor = 0;              // compute capability
  size_t total_bytes = 0, free_bytes = 0;
};
DeviceProperties device_properties(int device);

// Versions as "12.4" / "9.1.0"; "none" where the library is not there (driver, cuDNN) and
// "not built" where this binary was compiled without it.
struct LibraryVersions {
  std::string driver, runtime, cublas, cudnn;
};
LibraryVersions library_versions();

}  // namespace xmkd::cuda
