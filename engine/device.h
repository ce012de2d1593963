// Where a tensor's memory lives. One GPU at most: CUDA means the current CUDA device.
#pragma once
#include <cstdint>
#include <string>

namespace xmkd {

enum class Device : uint8_t { CPU, CUDA };

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// Parses "cpu" or "cuda" (a device to run on: "cuda" without a usable device throws, saying why:
// the CUDA error name, or a build without CUDA); throws naming the text otherwise.
Device parse_device(const std::string& name);

// True when xmkd was compiled with CUDA AND a CUDA device is present.
bool cuda_available();

// True when xmkd was compiled with the CUDA backend (whether or not a device is present).
bool built_with_cuda();

}  // namespace xmkd
