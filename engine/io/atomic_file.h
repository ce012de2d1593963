// Writes go to "<path>.tmp.<pid>"; commit() flushes, fsyncs and renames it over `path`, so a
// reader (or a run interrupted mid-write) sees the old file or the new one, never half of one.
// Destroyed without commit(), the temporary file is removed.
#pragma once
#include <cstddef>
#include <cstdio>
#include <string>

namespace xmkd::io {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();

 private:
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
};

// Replaces `path` with `text` through an AtomicFile: the old file or the new one, never half.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace xmkd::io
