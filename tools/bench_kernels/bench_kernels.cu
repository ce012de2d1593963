// bench_kernels: times the CUDA conv2d kernels (forward, backward data, backward weight) of each
// conv backend (kernels/cuda/conv_backend.h) on the distinct conv shapes of ResNet-18, and writes
// the results as JSON.
//
//   bench_kernels [--batches 32,128] [--sizes 64,224] [--backends handwritten,handwritten-tf32,cudnn]
//                 [--warmup 3] [--iters 10] [--out results.json]
//
// Each measurement: `warmup` untimed calls (the cuDNN plan and algorithm are chosen on the first),
// then `iters` timed calls, each preceded by a write of twice the L2 size to a scratch buffer so
// that no call finds its operands in L2 from the one before; a call is timed alone between two
// CUDA events on the backend's stream. Reported: the median and minimum milliseconds, and GFLOP/s
// of the median, counting 2·N·K·P·Q·C·R·S flops per pass (the multiply-adds of the direct
// convolution, also for the backward passes, whatever the algorithm does). Progress goes to
// stderr, the JSON to --out or stdout.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "kernels/cuda/conv_backend.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"

namespace xmkd::bench {
namespace {

struct Options {
  std::vector<int> batches{32, 128};
  std::vector<int> sizes{64, 224};
  std::vector<std::string> backends{"handwritten", "handwritten-tf32", "cudnn"};
  int warmup = 3, iters = 10;
  std::string out;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> items;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

std::vector<int> int_list(const std::string& s) {
  std::vector<int> v;
  for (const std::string& item : split_list(s)) v.push_back(std::stoi(item));
  return v;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    XMKD_CHECK(i + 1 < argc, "bench_kernels: ", arg, " needs a value");
    const std::string value = argv[++i];
    if (arg == "--batches") o.batches = int_list(value);
    else if (arg == "--sizes") o.sizes = int_list(value);
    else if (arg == "--backends") o.backends = split_list(value);
    else if (arg == "--warmup") o.warmup = std::stoi(value);
    else if (arg == "--iters") o.iters = std::stoi(value);
    else if (arg == "--out") o.out = value;
    else fail("bench_kernels: unknown option ", arg, " (see the top of tools/bench_kernels/bench_kernels.cu)");
  }
  XMKD_CHECK(o.iters >= 1 && o.warmup >= 0, "bench_kernels: needs --iters >= 1 and --warmup >= 0");
  return o;
}

// A conv of ResNet-18 and how many times the network runs it.
struct Layer {
  const char* name;
  int count;
  Conv2dGeometry g;
};

Conv2dGeometry geometry(int64_t n, int64_t c, int64_t hw, int64_t k, int64_t rs, int64_t stride, int64_t pad) {
  Conv2dGeometry g;
  g.N = n, g.C = c, g.H = hw, g.W = hw, g.K = k, g.R = rs, g.S = rs, g.stride = stride, g.pad = pad, g.dilation = 1;
  g.P = (hw + 2 * pad - (rs - 1) - 1) / stride + 1;
  g.Q = g.P;
  return g;
}

// The distinct convs of ResNet-18 (models/resnet18.h) on n images of size x size x 3.
std::vector<Layer> resnet18_layers(int64_t n, int64_t size) {
  const int64_t s2 = (size + 1) / 2;   // conv1 7x7/2 pad 3
  const int64_t s4 = (s2 + 1) / 2;     // maxpool 3x3/2 pad 1
  const int64_t s8 = (s4 + 1) / 2, s16 = (s8 + 1) / 2;
  return {
      {"conv1 7x7/2", 1, geometry(n, 3, size, 64, 7, 2, 3)},
      {"layer1 3x3", 4, geometry(n, 64, s4, 64, 3, 1, 1)},
      {"layer2.0.conv1 3x3/2", 1, geometry(n, 64, s4, 128, 3, 2, 1)},
      {"layer2 3x3", 3, geometry(n, 128, s8, 128, 3, 1, 1)},
      {"layer2.0.downsample 1x1/2", 1, geometry(n, 64, s4, 128, 1, 2, 0)},
      {"layer3.0.conv1 3x3/2", 1, geometry(n, 128, s8, 256, 3, 2, 1)},
      {"layer3 3x3", 3, geometry(n, 256, s16, 256, 3, 1, 1)},
      {"layer3.0.downsample 1x1/2", 1, geometry(n, 128, s8, 256, 1, 2, 0)},
      {"layer4.0.conv1 3x3/2", 1, geometry(n, 256, s16, 512, 3, 2, 1)},
      {"layer4 3x3", 3, geometry(n, 512, (s16 + 1) / 2, 512, 3, 1, 1)},
      {"layer4.0.downsample 1x1/2", 1, geometry(n, 256, s16, 512, 1, 2, 0)},
  };
}

// Device memory filled with N(0,1) values (or uninitialised when fill is false).
struct DeviceBuffer {
  float* ptr = nullptr;
  DeviceBuffer(int64_t floats, std::mt19937& rng, bool fill) {
    const size_t bytes = sizeof(float) * static_cast<size_t>(std::max<int64_t>(floats, 1));
    ptr = static_cast<float*>(cuda::device_malloc(bytes));
    if (!fill) return;
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> host(static_cast<size_t>(floats));
    for (float& v : host) v = normal(rng);
    cuda::copy_host_to_device(ptr, host.data(), sizeof(float) * host.size());
  }
  ~DeviceBuffer() { cuda::device_free(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

struct Timing {
  double median_ms, min_ms;
};

// Times run(): warm-up calls, then each timed call alone after an L2 flush.
template <class Run>
Timing time_calls(const Run& run, const Options& o, void* flush, size_t flush_bytes) {
  cudaStream_t s = cuda::stream();
  for (int i = 0; i < o.warmup; ++i) run();
  cudaEvent_t start, stop;
  XMKD_CUDA_CHECK(cudaEventCreate(&start));
  XMKD_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> ms;
  for (int i = 0; i < o.iters; ++i) {
    XMKD_CUDA_CHECK(cudaMemsetAsync(flush, i & 0xff, flush_bytes, s));
    XMKD_CUDA_CHECK(cudaEventRecord(start, s));
    run();
    XMKD_CUDA_CHECK(cudaEventRecord(stop, s));
    XMKD_CUDA_CHECK(cudaEventSynchronize(stop));
    float elapsed = 0.0f;
    XMKD_CUDA_CHECK(cudaEventElapsedTime(&elapsed, start, stop));
    ms.push_back(elapsed);
  }
  XMKD_CUDA_CHECK(cudaEventDestroy(start));
  XMKD_CUDA_CHECK(cudaEventDestroy(stop));
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  XMKD_CHECK(cuda::device_count() > 0, "bench_kernels: no CUDA device");
  const cuda::DeviceProperties props = cuda::device_properties(0);
  int l2_bytes = 0;
  XMKD_CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, 0));
  const size_t flush_bytes = 2 * static_cast<size_t>(std::max(l2_bytes, 1 << 20));
  void* flush = cuda::device_malloc(flush_bytes);
  std::mt19937 rng(1234);

  std::ostringstream json;
  json << "{\n  \"device\": " << json_string(props.name) << ",\n  \"warmup\": " << o.warmup
       << ",\n  \"iters\": " << o.iters << ",\n  \"results\": [";
  bool first = true;
  for (int batch : o.batches) {
    for (int size : o.sizes) {
      for (const Layer& layer : resnet18_layers(batch, size)) {
        const Conv2dGeometry& g = layer.g;
        const double flops = 2.0 * g.N * g.K * g.P * g.Q * g.C * g.R * g.S;
        DeviceBuffer x(g.N * g.C * g.H * g.W, rng, true), w(g.K * g.C * g.R * g.S, rng, true);
        DeviceBuffer dy(g.N * g.K * g.P * g.Q, rng, true);
        DeviceBuffer y(g.N * g.K * g.P * g.Q, rng, false), dx(g.N * g.C * g.H * g.W, rng, false);
        DeviceBuffer dw(g.K * g.C * g.R * g.S, rng, false);
        for (const std::string& name : o.backends) {
          const cuda::ConvBackend backend = cuda::parse_conv_backend(name);
          if (!cuda::conv_backend_available(backend)) {
            std::cerr << "bench_kernels: skipping " << name << " (not built)\n";
            continue;
          }
          cuda::set_conv_backend(backend);
          DeviceBuffer workspace(cuda::conv2d_workspace_size(g), rng, false);
          struct Pass {
            const char* name;
            std::function<void()> call;
          };
          const std::vector<Pass> passes = {
              {"forward", [&] { cuda::conv2d_forward(g, x.ptr, w.ptr, nullptr, y.ptr, workspace.ptr); }},
              {"backward_data", [&] { cuda::conv2d_backward_data(g, dy.ptr, w.ptr, dx.ptr, workspace.ptr); }},
              {"backward_weight",
               [&] { cuda::conv2d_backward_weight(g, x.ptr, dy.ptr, dw.ptr, nullptr, workspace.ptr); }},
          };
          for (const Pass& pass : passes) {
            const Timing t = time_calls(pass.call, o, flush, flush_bytes);
            const double gflops = flops / (t.median_ms * 1e-3) / 1e9;
            std::fprintf(stderr, "batch %3d  %3dx%-3d  %-28s x%d  %-16s %-15s  %9.3f ms  %8.1f GFLOP/s\n", batch, size, size,
                        layer.name, layer.count, name.c_str(), pass.name, t.median_ms, gflops);
            std::fflush(stderr);
            json << (first ? "\n" : ",\n") << "    {\"batch\": " << batch << ", \"size\": " << size
                 << ", \"layer\": " << json_string(layer.name) << ", \"count_in_network\": " << layer.count
                 << ", \"N\": " << g.N << ", \"C\": " << g.C << ", \"H\": " << g.H << ", \"W\": " << g.W
                 << ", \"K\": " << g.K << ", \"R\": " << g.R << ", \"S\": " << g.S << ", \"P\": " << g.P
                 << ", \"Q\": " << g.Q << ", \"stride\": " << g.stride << ", \"pad\": " << g.pad
                 << ", \"backend\": " << json_string(name) << ", \"pass\": " << json_string(pass.name)
                 << ", \"median_ms\": " << t.median_ms << ", \"min_ms\": " << t.min_ms << ", \"gflops\": " << gflops
                 << "}";
            first = false;
          }
        }
      }
    }
  }
  json << "\n  ]\n}\n";
  cuda::device_free(flush);
  if (o.out.empty()) {
    std::cout << json.str();
  } else {
    std::ofstream(o.out) << json.str();
    std::cerr << "bench_kernels: wrote " << o.out << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace xmkd::bench

int main(int argc, char** argv) {
  try {
    return xmkd::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
