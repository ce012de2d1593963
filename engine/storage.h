// Storage: one block of device memory, owned. Tensors share a Storage through shared_ptr
// (reshape and detach are views of the same storage); the block returns to the caching
// allocator when the last tensor using it goes away.
#pragma once
#include <cstddef>
#include <memory>

#include "engine/device.h"

namespace xmkd {

class Storage {
 public:
  Storage(size_t bytes, Device device);
  // Host memory from the pinned pool (engine/allocator.h), for staging copies to the GPU.
  static std::shared_ptr<Storage> pinned_host(size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  Storage(void* data, size_t bytes, Device device, bool pinned)
      : data_(data), bytes_(bytes), device_(device), pinned_(pinned) {}

  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  bool pinned_ = false;
};

}  // namespace xmkd
