// Fashion-MNIST idx files, gzipped or raw (zlib's gz reader passes raw files through unchanged).
// idx3 images: big-endian int32 magic 2051, count, rows, cols, then count*rows*cols bytes;
// idx1 labels: magic 2049, count, then count bytes. Images become (1, rows, cols) float32 in [0, 1].
#include <zlib.h>

#include <algorithm>
#include <filesystem>

#include "data/datasets.h"

namespace xmkd::data {
namespace {

constexpr int64_t kClasses = 10;
constexpr uint32_t kImagesMagic = 2051, kLabelsMagic = 2049;

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    XMKD_CHECK(file_, "cannot open idx file '", path, "'");
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Up to `bytes` bytes; fewer only at the end of the data.
  size_t read(void* out, size_t bytes) {
    size_t done = 0;
    while (done < bytes) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes - done, size_t{1} << 24));
      const int got = gzread(file_, static_cast<char*>(out) + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* why = gzerror(file_, &code);
        fail(path_, ": corrupt or unreadable idx file (zlib: ", why, ")");
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }
  uint32_t read_be32(const char* field) {
    unsigned char b[4];
    XMKD_CHECK(read(b, 4) == 4, path_, ": truncated idx header (no ", field, ")");
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  // Exactly `bytes` bytes and then the end of the file. The buffer grows as data arrives, so a
  // corrupt header cannot make it allocate more than the file holds.
  std::vector<uint8_t> read_body(uint64_t bytes, const std::string& what) {
    std::vector<uint8_t> out;
    while (out.size() < bytes) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(bytes - out.size(), uint64_t{1} << 24));
      const size_t old = out.size();
      out.resize(old + chunk);
      const size_t got = read(out.data() + old, chunk);
      XMKD_CHECK(got == chunk, path_, ": truncated idx file: ", what, " need ", bytes, " bytes of data, the file has ",
                 old + got);
    }
    unsigned char extra;
    XMKD_CHECK(read(&extra, 1) == 0, path_, ": unexpected trailing bytes after the ", bytes, " bytes of ", what);
    return out;
  }

 private:
  std::string path_;
  gzFile file_;
};

// <dir>/<stem>.gz when present, else <dir>/<stem>.
std::string find_idx(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(dir) / (stem + ".gz"), raw = fs::path(dir) / stem;
  if (fs::exists(gz)) return gz.string();
  XMKD_CHECK(fs::exists(raw), dir, ": no Fashion-MNIST file ", stem, ".gz or ", stem, " (Debian: apt-get install ",
             "dataset-fashion-mnist, files in /usr/share/datasets/fashion-mnist)");
  return raw.string();
}

class FashionMnist : public Dataset {
 public:
  FashionMnist(std::string dir, std::string split, int64_t rows, int64_t cols, std::vector<uint8_t> pixels,
               std::vector<int64_t> labels)
      : dir_(std::move(dir)), split_(std::move(split)), rows_(rows), cols_(cols), pixels_(std::move(pixels)),
        labels_(std::move(labels)) {}

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  const std::vector<ModalitySpec>& modalities() const override { return specs_; }
  int64_t num_classes() const override { return kClasses; }
  Task task() const override { return Task::Classification; }
  std::vector<int64_t> labels() const override { return labels_; }
  std::string describe() const override {
    return str_cat("Fashion-MNIST ", split_, " (", dir_, "): ", labels_.size(), " images ", rows_, "x", cols_, ", ",
                   kClasses, " classes");
  }

  Sample get(int64_t index) const override {
    XMKD_CHECK(index >= 0 && index < size(), describe(), ": sample index ", index, " is outside [0, ", size(), ")");
    Tensor image = Tensor::empty({1, rows_, cols_});
    float* out = image.data<float>();
    const uint8_t* src = pixels_.data() + index * rows_ * cols_;
    for (int64_t i = 0; i < rows_ * cols_; ++i) out[i] = static_cast<float>(src[i]) / 255.0f;
    Sample s;
    s.images.push_back(image);
    s.label = labels_[static_cast<size_t>(index)];
    return s;
  }

 private:
  std::string dir_, split_;
  int64_t rows_, cols_;
  std::vector<uint8_t> pixels_;   // (N, rows, cols), 0..255
  std::vector<int64_t> labels_;
  std::vector<ModalitySpec> specs_ = {{"image", 1}};
};

}  // namespace

std::shared_ptr<Dataset> open_fashion_mnist(const std::string& dir, const std::string& split) {
  XMKD_CHECK(split == "train" || split == "test", "open_fashion_mnist(", dir, "): split must be \"train\" or \"test\", got \"",
             split, "\"");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images_path = find_idx(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx(dir, prefix + "-labels-idx1-ubyte");

  GzFile images(images_path);
  const uint32_t magic = images.read_be32("magic number");
  XMKD_CHECK(magic == kImagesMagic, images_path, ": magic number ", magic, "; expected ", kImagesMagic,
             " (an idx3 image file)");
  const uint32_t count = images.read_be32("image count"), rows = images.read_be32("row count"),
                 cols = images.read_be32("column count");
  XMKD_CHECK(count >= 1 && rows >= 1 && cols >= 1 && rows <= 4096 && cols <= 4096, images_path, ": bad idx3 header: ",
             count, " images of ", rows, "x", cols);
  std::vector<uint8_t> pixels = images.read_body(uint64_t{count} * rows * cols, str_cat(count, " images of ", rows, "x", cols));

  GzFile label_file(labels_path);
  const uint32_t label_magic = label_file.read_be32("magic number");
  XMKD_CHECK(label_magic == kLabelsMagic, labels_path, ": magic number ", label_magic, "; expected ", kLabelsMagic,
             " (an idx1 label file)");
  const uint32_t label_count = label_file.read_be32("label count");
  XMKD_CHECK(label_count == count, labels_path, ": holds ", label_count, " labels but ", images_path, " holds ", count,
             " images");
  const std::vector<uint8_t> raw_labels = label_file.read_body(count, str_cat(count, " labels"));
  std::vector<int64_t> labels(raw_labels.size());
  for (size_t i = 0; i < raw_labels.size(); ++i) {
    XMKD_CHECK(raw_labels[i] < kClasses, labels_path, ": label ", i, " is ", int{raw_labels[i]}, "; expected a class in [0, ",
               kClasses, ")");
    labels[i] = raw_labels[i];
  }
  return std::make_shared<FashionMnist>(dir, split, rows, cols, std::move(pixels), std::move(labels));
}

}  // namespace xmkd::data
