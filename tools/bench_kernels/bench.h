// What the kernel microbenchmarks share (tools/bench_kernels/): options, buffers on either
// device, the two timers and the report that prints a line per measurement and collects the JSON.
//
// Timing on CUDA: `warmup` untimed calls (cuDNN plans and algorithms are chosen on the first),
// then `iters` timed calls, each preceded by a write of twice the L2 size to a scratch buffer so
// that no call finds its operands in L2 from the one before; each call is timed alone between two
// CUDA events on the backend's stream. On the CPU: the same warm-up, then each call timed alone
// with a steady clock (no cache flush: the CPU rows are for scale, at the smallest sizes only).
// Reported: the median and minimum milliseconds, and the rate of the median (GFLOP/s for conv
// and GEMM, GB/s of the minimum traffic for the memory-bound kernels: each operand read once and
// each result written once, whatever the kernel actually moves).
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/device.h"
#include "kernels/geometry.h"

namespace xmkd::bench {

struct Options {
  std::vector<int> batches{32, 128};
  std::vector<int> sizes{64, 224};
  std::vector<std::string> kernels{"conv", "batchnorm", "add_relu", "max_pool", "upsample",
                                   "cross_entropy", "cosine", "gemm", "adam"};
  std::vector<std::string> conv_backends{"handwritten", "handwritten-tf32", "cudnn"};
  std::vector<std::string> batchnorm_backends{"handwritten", "cudnn"};
  bool cpu = true;   // also time the CPU reference at batch 32, 64x64
  int warmup = 3, iters = 10;
  std::string out;

  bool wants(const std::string& kernel) const;
  // The CPU reference runs at the smallest configuration only.
  bool cpu_at(int batch, int size) const { return cpu && batch <= 32 && size <= 64; }
};

Options parse_options(int argc, char** argv);

// Floats on a device, filled with N(0, 1) values or left uninitialised; freed on destruction.
class Buffer {
 public:
  Buffer(Device device, int64_t floats, std::mt19937& rng, bool fill);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* get() const { return ptr_; }
  template <class T>
  T* as() const { return reinterpret_cast<T*>(ptr_); }
  // Sets every element to `value`, read as a T (e.g. class labels, argmax indices).
  template <class T>
  void fill_with(const std::vector<T>& values);

 private:
  void upload(const void* host, size_t bytes);
  Device device_;
  size_t bytes_;
  float* ptr_;
};

template <class T>
void Buffer::fill_with(const std::vector<T>& values) {
  upload(values.data(), sizeof(T) * values.size());
}

// One measurement.
struct Row {
  std::string kernel, pass, implementation;
  int batch = 0, size = 0;
  std::string shape;           // e.g. "N32 C64 16x16"
  int count_in_network = 1;    // how many times ResNet-18 runs it per step (conv, batch norm)
  double work = 0.0;           // flops (GFLOP/s rows) or bytes (GB/s rows) per call
  bool flops = false;
};

class Report {
 public:
  explicit Report(const Options& o);
  ~Report();
  // Times run on `device` and records the row.
  void measure(Row row, Device device, const std::function<void()>& run);
  std::string json() const;

 private:
  const Options& o_;
  void* flush_ = nullptr;
  size_t flush_bytes_ = 0;
  std::string device_name_;
  std::ostringstream rows_;
  bool first_ = true;
};

// The distinct convolutions of ResNet-18 (models/resnet18.h) on n images of size x size x 3.
struct ConvLayer {
  const char* name;
  int count;
  Conv2dGeometry g;
};
std::vector<ConvLayer> resnet18_convs(int64_t n, int64_t size);

// Spatial sizes of ResNet-18 on a size x size input: after conv1 (/2), the max pool (/4), and
// stages 2-4 (/8, /16, /32).
struct Resnet18Sizes {
  int64_t s2, s4, s8, s16, s32;
};
Resnet18Sizes resnet18_sizes(int64_t size);

// The benchmarks of each kernel group, each over o.batches x o.sizes.
void bench_conv(const Options& o, Report& report, std::mt19937& rng);
void bench_ops(const Options& o, Report& report, std::mt19937& rng);

// "N32 C64 16x16"-style shape labels.
std::string image_shape(int64_t n, int64_t c, int64_t h, int64_t w);

}  // namespace xmkd::bench
