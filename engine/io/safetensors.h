// safetensors: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}}
// then the raw little-endian data. xmkd reads F32, I32, I64 (and F64/F16/BF16, converted to F32)
// and writes F32, I32, I64; files it writes are readable by the safetensors library.
#pragma once
#include <map>
#include <string>

#include "engine/nn/module.h"

namespace xmkd::io {

// Every malformed file gives an Error naming the file, and the key where one is at fault.
TensorMap load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);
// Written to "<path>.tmp" and renamed over `path`: a reader never sees a half-written file.
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace xmkd::io
