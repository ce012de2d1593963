// Deterministic random numbers: the same seed gives the same stream on every machine (the
// standard library's distributions are implementation-defined, so xmkd does its own).
// Generator = xoshiro256** seeded through splitmix64; normal() by Box-Muller.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xmkd {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { this->seed(seed); }
  void seed(uint64_t seed);
  uint64_t next_u64();
  float uniform();                 // [0, 1), 24 random bits
  double uniform_double();         // [0, 1), 53 random bits
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  float normal();                  // N(0, 1)
  int64_t randint(int64_t n);      // uniform in [0, n)

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

// The process-wide generator used when an API takes none (initialisation, dropout).
Generator& default_generator();
void manual_seed(uint64_t seed);

// float32 tensors filled on the CPU from `gen`, then moved to `device`.
Tensor rand_uniform(const Shape& shape, float lo, float hi, Generator& gen, Device device = Device::CPU);
Tensor rand_normal(const Shape& shape, float mean, float stddev, Generator& gen, Device device = Device::CPU);

}  // namespace xmkd
