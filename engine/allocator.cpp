#include "engine/allocator.h"

#include <cstdlib>
#include <exception>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/error.h"
#include "kernels/cuda/runtime.h"

namespace xmkd {
namespace {

constexpr size_t kAlignment = 64;   // a cache line; also what AVX-512 loads like

// Small blocks round to 512 B, larger ones to 1/16 of their power-of-two range (at most 6.25%
// waste), so a cached block is reused by requests of nearly the same size.
size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + 511) / 512 * 512;
  size_t pow2 = 1;
  while (pow2 < bytes) pow2 <<= 1;
  size_t step = pow2 / 16;
  return (bytes + step - 1) / step * step;
}

// Where a pool's blocks come from.
enum class Pool { Host, Device, PinnedHost };

class CachingAllocator {
 public:
  explicit CachingAllocator(Pool pool) : pool_(pool) {}
  ~CachingAllocator() = default;   // blocks still cached at exit are reclaimed by the OS

  void* allocate(size_t bytes) {
    size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    void* p = nullptr;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.cached -= size;
      stats_.reuses++;
    } else {
      p = system_alloc(size);
      if (!p) {   // out of memory: give the cache back and try once more
        release_cached_locked();
        p = system_alloc(size);
      }
      XMKD_CHECK(p != nullptr, "out of ", pool_ == Pool::Device ? "cuda" : "host", " memory allocating ", size,
                 " bytes (in use: ", stats_.in_use, " bytes)");
      stats_.system_allocs++;
    }
    stats_.in_use += size;
    if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
    return p;
  }

  void deallocate(void* p, size_t bytes) {
    if (!p) return;
    size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    free_[size].push_back(p);
    stats_.in_use -= size;
    stats_.cached += size;
  }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_in_use = stats_.in_use;
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

 private:
  void* system_alloc(size_t size) {
    switch (pool_) {
      case Pool::Host: return std::aligned_alloc(kAlignment, size);
      case Pool::Device:
        // Only out-of-memory comes back as nullptr (and is retried); no device, or a sticky fault
        // of an earlier kernel, throws with the CUDA error's name.
        XMKD_CHECK(cuda::device_count() > 0, "cannot allocate ", size, " bytes on the GPU: ", cuda::device_status(),
                   " (`xmkd info` shows the devices; use --device cpu to run without one)");
        return cuda::device_malloc(size);
      case Pool::PinnedHost:
        if (void* p = cuda::host_malloc_pinned(size)) return p;
        void* p = std::aligned_alloc(kAlignment, size);   // no pinned memory: ordinary memory
        if (p) unpinned_.insert(p);
        return p;
    }
    return nullptr;
  }
  void system_free(void* p) {
    if (pool_ == Pool::Device) cuda::device_free(p);
    else if (pool_ == Pool::PinnedHost && !unpinned_.erase(p)) cuda::host_free_pinned(p);
    else std::free(p);
  }
  // The cache is emptied before anything is freed, so a free that throws (a sticky CUDA error)
  // leaves no freed block behind to be handed out again; the first error is rethrown once every
  // block has been tried.
  void release_cached_locked() {
    std::unordered_map<size_t, std::vector<void*>> blocks;
    blocks.swap(free_);
    stats_.cached = 0;
    std::exception_ptr first;
    for (auto& [size, list] : blocks)
      for (void* p : list) {
        try {
          system_free(p);
        } catch (...) {
          if (!first) first = std::current_exception();
        }
      }
    if (first) std::rethrow_exception(first);
  }

  Pool pool_;
  std::mutex mutex_;
  std::unordered_set<void*> unpinned_;   // PinnedHost blocks that fell back to ordinary memory
  std::unordered_map<size_t, std::vector<void*>> free_;
  MemoryStats stats_;
};

// Leaked on purpose: tensors in static storage may be freed after main() returns.
CachingAllocator& allocator_for(Device device) {
  static CachingAllocator* cpu = new CachingAllocator(Pool::Host);
  static CachingAllocator* gpu = new CachingAllocator(Pool::Device);
  return device == Device::CPU ? *cpu : *gpu;
}

CachingAllocator& pinned_host_allocator() {
  static CachingAllocator* pinned = new CachingAllocator(Pool::PinnedHost);
  return *pinned;
}

}  // namespace

void* allocate(Device device, size_t bytes) { return allocator_for(device).allocate(bytes); }
void deallocate(Device device, void* ptr, size_t bytes) { allocator_for(device).deallocate(ptr, bytes); }
MemoryStats memory_stats(Device device) { return allocator_for(device).stats(); }
void reset_peak_memory(Device device) { allocator_for(device).reset_peak(); }
void empty_cache(Device device) { allocator_for(device).empty_cache(); }
void* allocate_pinned_host(size_t bytes) { return pinned_host_allocator().allocate(bytes); }
void deallocate_pinned_host(void* ptr, size_t bytes) { pinned_host_allocator().deallocate(ptr, bytes); }
MemoryStats pinned_host_memory_stats() { return pinned_host_allocator().stats(); }

}  // namespace xmkd
