#include "engine/storage.h"

#include "engine/allocator.h"

namespace xmkd {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = allocate(device, bytes);
}

std::shared_ptr<Storage> Storage::pinned_host(size_t bytes) {
  return std::shared_ptr<Storage>(new Storage(allocate_pinned_host(bytes), bytes, Device::CPU, /*pinned=*/true));
}

Storage::~Storage() {
  if (pinned_) deallocate_pinned_host(data_, bytes_);
  else deallocate(device_, data_, bytes_);
}

}  // namespace xmkd
