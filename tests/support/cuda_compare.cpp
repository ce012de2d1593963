#include "tests/support/cuda_compare.h"

#include <gtest/gtest.h>

#include "engine/random.h"
#include "tests/support/gradcheck.h"

namespace xmkd::testing {

void expect_cuda_matches_cpu(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                             const std::vector<OpInput>& inputs, Tolerance forward, Tolerance backward,
                             uint64_t seed) {
  std::vector<Tensor> cpu, gpu;
  bool any_grad = false;
  for (const OpInput& in : inputs) {
    ASSERT_EQ(in.value.device(), Device::CPU) << what << ": inputs are given on the CPU";
    Tensor c = in.value.clone(), g = in.value.to(Device::CUDA);
    if (in.grad) {
      c.set_requires_grad(true);
      g.set_requires_grad(true);
      any_grad = true;
    }
    cpu.push_back(c);
    gpu.push_back(g);
  }
  Tensor y_cpu = f(cpu), y_gpu = f(gpu);
  ASSERT_EQ(y_gpu.device(), Device::CUDA) << what;
  expect_close(y_gpu, y_cpu, forward.atol, forward.rtol, what + ": forward");
  if (!any_grad) return;

  Generator gen(seed);
  Tensor upstream = rand_normal(y_cpu.shape(), 0.0f, 1.0f, gen);
  y_cpu.backward(upstream);
  y_gpu.backward(upstream.to(Device::CUDA));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].grad) continue;
    const std::string name = what + ": gradient of input " + std::to_string(i);
    ASSERT_EQ(gpu[i].grad().defined(), cpu[i].grad().defined()) << name;
    if (!cpu[i].grad().defined()) continue;
    EXPECT_EQ(gpu[i].grad().device(), Device::CUDA) << name;
    expect_close(gpu[i].grad(), cpu[i].grad(), backward.atol, backward.rtol, name);
  }
}

}  // namespace xmkd::testing
