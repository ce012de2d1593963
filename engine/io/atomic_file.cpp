#include "engine/io/atomic_file.h"

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "engine/error.h"

namespace xmkd::io {

AtomicFile::AtomicFile(const std::string& path) : path_(path), tmp_(path + ".tmp." + std::to_string(getpid())) {
  file_ = std::fopen(tmp_.c_str(), "wb");
  XMKD_CHECK(file_, "cannot write '", tmp_, "' (for '", path, "'): ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  XMKD_CHECK(file_, "AtomicFile: write after commit to '", path_, "'");
  XMKD_CHECK(std::fwrite(data, 1, bytes, file_) == bytes, "write to '", tmp_, "' failed: ", std::strerror(errno));
}

void AtomicFile::commit() {
  XMKD_CHECK(file_, "AtomicFile: commit twice to '", path_, "'");
  bool ok = std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp_.c_str());
    fail("cannot write '", path_, "': ", why);
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

}  // namespace xmkd::io
