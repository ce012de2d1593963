#include "engine/storage.h"

#include "engine/allocator.h"

namespace xmkd {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = allocate(device, bytes);
}

Storage::~Storage() { deallocate(device_, data_, bytes_); }

}  // namespace xmkd
