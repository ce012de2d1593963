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

// splitmix64's output function (Stafford's "mix13" finaliser): a bijection of 64-bit words in
// which every input bit changes every output bit with probability ~1/2. xmkd derives its seeds
// and hashes from it.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;   // 2^64 / golden ratio, splitmix64's increment
// splitmix64 as a function: the value the generator returns from state x.
inline uint64_t splitmix64(uint64_t x) { return mix64(x + kGoldenGamma); }

// The process-wide generator used when an API takes none (initialisation, dropout).
Generator& default_generator();
void manual_seed(uint64_t seed);

// float32 tensors filled on the CPU from `gen`, then moved to `device`.
Tensor rand_uniform(const Shape& shape, float lo, float hi, Generator& gen, Device device = Device::CPU);
Tensor rand_normal(const Shape& shape, float mean, float stddev, Generator& gen, Device device = Device::CPU);

}  // namespace xmkd
