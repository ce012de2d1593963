// SGD, Adam and AdamW on CUDA against the CPU: five steps on the same parameters and gradients.
// The fused kernels evaluate the same float32 expressions in the same order (fmaf where the CPU
// calls std::fma, no other contraction: --fmad=false; IEEE division and square root), so the
// brief's bound of 1e-6 relative is what is asserted, but a correct kernel meets it with 0 ulps:
// any difference at all means the CUDA update is not the CPU's formula (report, don't widen).
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "engine/device.h"
#include "engine/optim/optimizer.h"
#include "engine/random.h"
#include "tests/support/gradcheck.h"
#include "tests/support/cuda_skip.h"

namespace xmkd {
namespace {

using testing::expect_close;

constexpr double kRtol = 1e-6;

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(NamedTensors)>;

// Parameters of awkward sizes, the same values on both devices, and per-step gradients.
void expect_same_steps(const std::string& what, const MakeOptimizer& make) {
  Generator gen(31);
  const std::vector<Shape> shapes = {{17, 3, 3, 3}, {65}, {1}, {1000, 3}};
  NamedTensors cpu, gpu;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor p = rand_normal(shapes[i], 0.0f, 1.0f, gen);
    cpu.emplace_back("p" + std::to_string(i), p.clone().set_requires_grad(true));
    gpu.emplace_back("p" + std::to_string(i), p.to(Device::CUDA).set_requires_grad(true));
  }
  std::unique_ptr<optim::Optimizer> opt_cpu = make(cpu), opt_gpu = make(gpu);
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor g = rand_normal(shapes[i], 0.0f, 1.0f, gen);
      cpu[i].second.set_grad(g);
      gpu[i].second.set_grad(g.to(Device::CUDA));
    }
    opt_cpu->step();
    opt_gpu->step();
  }
  for (size_t i = 0; i < shapes.size(); ++i)
    expect_close(gpu[i].second, cpu[i].second, 0.0, kRtol, what + ": " + cpu[i].first + " after 5 steps");
  // The optimizer state (momentum buffers, moments) must agree too.
  const TensorMap state_cpu = opt_cpu->state_dict(), state_gpu = opt_gpu->state_dict();
  ASSERT_EQ(state_cpu.size(), state_gpu.size());
  for (const auto& [key, value] : state_cpu) {
    if (value.dtype() != DType::Float32) continue;
    expect_close(state_gpu.at(key), value, 0.0, kRtol, what + ": state " + key);
  }
}

TEST(CudaOptim, SgdPlainMomentumNesterovWeightDecay) {
  XMKD_SKIP_WITHOUT_CUDA();
  std::vector<std::pair<std::string, optim::SGDOptions>> cases;
  optim::SGDOptions plain;
  plain.lr = 0.1;
  cases.emplace_back("plain", plain);
  optim::SGDOptions momentum = plain;
  momentum.momentum = 0.9;
  momentum.dampening = 0.1;
  momentum.weight_decay = 1e-2;
  cases.emplace_back("momentum dampening weight decay", momentum);
  optim::SGDOptions nesterov = plain;
  nesterov.momentum = 0.9;
  nesterov.nesterov = true;
  nesterov.weight_decay = 5e-4;
  cases.emplace_back("nesterov", nesterov);
  for (const auto& [name, options] : cases)
    expect_same_steps("SGD " + name, [options = options](NamedTensors p) {
      return std::unique_ptr<optim::Optimizer>(new optim::SGD(std::move(p), options));
    });
}

TEST(CudaOptim, AdamAndAdamW) {
  XMKD_SKIP_WITHOUT_CUDA();
  optim::AdamOptions adam;
  adam.lr = 1e-2;
  expect_same_steps("Adam", [adam](NamedTensors p) {
    return std::unique_ptr<optim::Optimizer>(new optim::Adam(std::move(p), adam));
  });
  optim::AdamOptions l2 = adam;
  l2.weight_decay = 1e-2;
  expect_same_steps("Adam L2", [l2](NamedTensors p) {
    return std::unique_ptr<optim::Optimizer>(new optim::Adam(std::move(p), l2));
  });
  optim::AdamOptions decoupled = adam;
  decoupled.weight_decay = 1e-2;
  expect_same_steps("AdamW", [decoupled](NamedTensors p) {
    return std::unique_ptr<optim::Optimizer>(new optim::AdamW(std::move(p), decoupled));
  });
}

}  // namespace
}  // namespace xmkd
