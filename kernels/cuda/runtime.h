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
// Why device_count() is 0, for messages and `xmkd info`: "" when a device is present; otherwise
// "no CUDA device: cudaErrorInsufficientDriver (CUDA driver version is insufficient for CUDA
// runtime version)" with the error cudaGetDeviceCount returned, or "xmkd was built without CUDA".
std::string device_status();
int multiprocessor_count();      // SMs of the current device (read once per device); 0 without one

// XMKD_CUDA_SYNC=1 in the environment: every kernel launch is followed by a synchronisation and a
// check, so the first fault is reported at the launch that caused it (slow; for debugging and a
// first run on a new machine). Read once.
bool sync_after_launch();
// What XMKD_CUDA_CHECK_LAUNCH() calls: the launch error, then in sync mode the kernel's own.
void check_launch(const char* file, int line);

// Raw cudaMalloc; the engine goes through its caching allocator. nullptr when the device is out
// of memory (cudaErrorMemoryAllocation, cleared, so the allocator may free its cache and retry);
// any other error (a sticky fault of an earlier kernel, no device) throws, naming the CUDA error.
void* device_malloc(size_t bytes);
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
// The current device's stream (a cudaStream_t) for libraries that queue work beside the kernels
// (NCCL's collectives in data-parallel training).
void* current_stream();
// Makes `device` current for this thread (a data-parallel rank's GPU).
void set_device(int device);

// What `xmkd info` prints about a device.
struct DeviceProperties {
  std::string name;
  int major = 0, minor = 0;              // compute capability
  int multiprocessors = 0;
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
