// The readers take paths, so each fuzz input is written to a per-process temporary file first.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace xmkd::fuzz {

// <tmp>/xmkd_fuzz_<pid>/<name>, its directory created on first use.
inline std::string scratch_path(const std::string& name) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("xmkd_fuzz_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return (dir / name).string();
}

inline void write_input(const std::string& path, const uint8_t* data, size_t size) {
  std::remove(path.c_str());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
}

}  // namespace xmkd::fuzz
