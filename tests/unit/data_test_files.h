// Files on disk for the data-reader tests: a temporary directory removed afterwards, images with
// known pixel values, raw byte I/O, and the error-message check every bad-input test makes.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "engine/error.h"

namespace xmkd::testing {

// A fresh directory under the system temp dir, removed (with its contents) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(std::filesystem::temp_directory_path() / ("xmkd_" + name + "_" + std::to_string(getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string str() const { return path_.string(); }
  // <dir>/<relative>, creating its parent directories.
  std::string file(const std::string& relative) const {
    const std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

// Replaces the file (removed first: ext4 flushes a file truncated and rewritten in place to disk,
// which costs milliseconds per write).
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::remove(path.c_str());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// An image whose value at (y, x, c) is a fixed function of the position and `seed`, below 2^bits.
inline data::Image patterned_image(int64_t height, int64_t width, int64_t channels, int bits, uint32_t seed = 1) {
  data::Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.bit_depth = bits;
  image.pixels.resize(static_cast<size_t>(height * width * channels));
  uint32_t state = seed * 2654435761u + 12345u;
  const uint32_t limit = bits == 16 ? 65536u : 256u;
  for (auto& v : image.pixels) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<uint16_t>((state >> 8) % limit);
  }
  return image;
}

// An image of one value everywhere.
inline data::Image flat_image(int64_t height, int64_t width, int64_t channels, uint16_t value, int bits = 8) {
  data::Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.bit_depth = bits;
  image.pixels.assign(static_cast<size_t>(height * width * channels), value);
  return image;
}

// Writes at the image's own bit depth.
inline void write_png(const std::string& path, const data::Image& image) {
  if (image.bit_depth == 16) data::write_png16(path, image);
  else data::write_png8(path, image);
}

// f must throw xmkd::Error whose message contains every one of `parts`.
inline void expect_error_with(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an xmkd::Error mentioning '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in: " << msg;
  }
}

}  // namespace xmkd::testing
