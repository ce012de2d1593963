// Deterministic values shared with the fixture generator (tools/torch_fixtures/_common.py), so
// that a PyTorch fixture need not store model weights: both sides compute them.
//
// deterministic_fill(key): value_i = 2 u_i - 1 with u_i = (top 24 bits of splitmix64(key·2^32 + i)) / 2^24,
// exact in float32 and identical on every machine.
// deterministic_init(model): every state dict entry by its name, u = deterministic values of key
// fnv1a32(name), computed in double and rounded once to float32:
//   weight with ndim >= 2      u · sqrt(6 / fan_in)      (fan_in = numel / shape[0])
//   1-D "...weight" (BN)       1 + 0.1 u
//   "...bias"                  0.1 u
//   "...running_mean"          0.1 u
//   "...running_var"           1 + 0.25 (u + 1)
//   "...num_batches_tracked"   0
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/random.h"

namespace xmkd::testing {

uint32_t fnv1a32(const std::string& text);
using xmkd::splitmix64;   // engine/random.h

// n values in [-1, 1) for `key` (see above).
std::vector<float> deterministic_values(uint64_t key, int64_t n);
// Fills a float32 CPU tensor with deterministic_values(key, t.numel()).
void deterministic_fill(Tensor& t, uint64_t key);

// The value deterministic_init gives state dict entry `name` of shape `shape` and type `dtype`.
Tensor deterministic_state_value(const std::string& name, const Shape& shape, DType dtype);
// Overwrites every parameter and buffer of `model` with deterministic_state_value.
void deterministic_init(Module& model);

}  // namespace xmkd::testing
