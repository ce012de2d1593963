// Caching allocators, one per device. A training step allocates the same sizes every iteration,
// so freed blocks are kept in per-size free lists and handed out again instead of going back to
// the system (malloc / cudaMalloc). Sizes are rounded up (see round_size in allocator.cpp) so
// near-identical requests share a list. empty_cache() returns every cached block.
#pragma once
#include <cstddef>

#include "engine/device.h"

namespace xmkd {

struct MemoryStats {
  size_t in_use = 0;          // bytes handed out and not yet freed
  size_t peak_in_use = 0;     // high-water mark of in_use since the last reset_peak
  size_t cached = 0;          // bytes held in free lists
  size_t system_allocs = 0;   // blocks obtained from the system
  size_t reuses = 0;          // requests served from a free list
};

void* allocate(Device device, size_t bytes);
void deallocate(Device device, void* ptr, size_t bytes);

// Host memory for staging host-to-GPU copies: page-locked when CUDA can provide it, ordinary
// memory otherwise (a build without CUDA, or no device). Cached like the others.
void* allocate_pinned_host(size_t bytes);
void deallocate_pinned_host(void* ptr, size_t bytes);
MemoryStats pinned_host_memory_stats();

MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);   // peak_in_use := in_use
void empty_cache(Device device);         // give every cached block back to the system

}  // namespace xmkd
