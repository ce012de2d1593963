// NumPy .npy files (format versions 1.0 to 3.0, C order, little-endian): '<f4' -> float32,
// '<f8' -> float32 (converted), '<i4' -> int32, '<i8' -> int64, '|u1' / '|i1' -> int32.
// Writes float32, int32 and int64 as version 1.0.
#pragma once
#include <string>

#include "engine/tensor.h"

namespace xmkd::io {

Tensor load_npy(const std::string& path);
void save_npy(const std::string& path, const Tensor& tensor);   // atomic (tmp + rename)

}  // namespace xmkd::io
