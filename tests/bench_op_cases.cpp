// `build/tests/bench_op_cases [--repeat N]`: the op-case table (tests/support/op_cases.h) timed,
// forward and forward + backward of each case, on the CPU and, where a device is present, on
// CUDA; a markdown table on stdout. The cases are small correctness shapes, so the figures show
// per-call overhead more than throughput; bench/compare.sh and build/bench_kernels time the
// training shapes. Nothing is asserted.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device.h"
#include "kernels/cuda/runtime.h"
#include "tests/support/op_cases.h"

namespace xmkd::testing {
namespace {

// Microseconds per call of `run`, the median of `repeat` calls after one warm-up call.
double median_us(int repeat, Device device, const std::function<void()>& run) {
  run();
  std::vector<double> us;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    if (device == Device::CUDA) cuda::synchronize();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

int run(int argc, char** argv) {
  int repeat = 50;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: bench_op_cases [--repeat N]\n");
      return 2;
    }
  }
  std::vector<Device> devices = {Device::CPU};
  if (cuda_available()) devices.push_back(Device::CUDA);
  std::printf("| case | device | forward (us) | forward + backward (us) |\n|---|---|---|---|\n");
  for (size_t k = 0; k < op_cases().size(); ++k) {
    const OpCase& c = op_cases()[k];
    for (Device device : devices) {
      Generator gen(1000 + k);
      std::vector<OpInput> inputs = c.inputs(gen);
      std::vector<Tensor> values;
      bool any_grad = false;
      for (const OpInput& in : inputs) {
        Tensor v = in.value.to(device);
        if (in.grad) v.set_requires_grad(true), any_grad = true;
        values.push_back(v);
      }
      const double forward = median_us(repeat, device, [&] {
        NoGradGuard no_grad;
        c.f(values);
      });
      std::string both = "-";
      if (any_grad) {
        char text[32];
        std::snprintf(text, sizeof text, "%.1f", median_us(repeat, device, [&] {
                        Tensor y = c.f(values);
                        y.backward(Tensor::ones(y.shape(), device));
                      }));
        both = text;
      }
      std::printf("| %s | %s | %.1f | %s |\n", c.name.c_str(), device == Device::CPU ? "cpu" : "cuda", forward,
                  both.c_str());
    }
  }
  return 0;
}

}  // namespace
}  // namespace xmkd::testing

int main(int argc, char** argv) { return xmkd::testing::run(argc, argv); }
