// bench_kernels: times xmkd's CUDA kernels beside cuDNN / cuBLAS (and the CPU reference at the
// smallest size) on the shapes ResNet-18 gives them, and writes the results as JSON.
//
//   bench_kernels [--kernels conv,batchnorm,add_relu,max_pool,upsample,cross_entropy,cosine,gemm,adam]
//                 [--batches 32,128] [--sizes 64,224]
//                 [--conv-backends handwritten,handwritten-tf32,cudnn]
//                 [--batchnorm-backends handwritten,cudnn] [--cpu on|off]
//                 [--warmup 3] [--iters 10] [--out results.json]
//
// How each call is timed and what the rates count: tools/bench_kernels/bench.h. The convolution
// is here; the other kernels are in bench_ops.cu. Progress lines go to stderr, the JSON to --out
// or stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "engine/allocator.h"
#include "engine/error.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cuda/backends.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"
#include "tools/bench_kernels/bench.h"

namespace xmkd::bench {
namespace {

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

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

double median_of(std::vector<double>& ms) {
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

bool Options::wants(const std::string& kernel) const {
  return std::find(kernels.begin(), kernels.end(), kernel) != kernels.end();
}

Options parse_options(int argc, char** argv) {
  Options o;
  const Options defaults;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    XMKD_CHECK(i + 1 < argc, "bench_kernels: ", arg, " needs a value");
    const std::string value = argv[++i];
    if (arg == "--kernels") o.kernels = split_list(value);
    else if (arg == "--batches") o.batches = int_list(value);
    else if (arg == "--sizes") o.sizes = int_list(value);
    else if (arg == "--conv-backends") o.conv_backends = split_list(value);
    else if (arg == "--batchnorm-backends") o.batchnorm_backends = split_list(value);
    else if (arg == "--cpu") o.cpu = value == "on";
    else if (arg == "--warmup") o.warmup = std::stoi(value);
    else if (arg == "--iters") o.iters = std::stoi(value);
    else if (arg == "--out") o.out = value;
    else fail("bench_kernels: unknown option ", arg, " (see the top of tools/bench_kernels/bench_kernels.cu)");
  }
  XMKD_CHECK(o.iters >= 1 && o.warmup >= 0, "bench_kernels: needs --iters >= 1 and --warmup >= 0");
  for (const std::string& k : o.kernels)
    XMKD_CHECK(defaults.wants(k), "bench_kernels: unknown kernel '", k, "' in --kernels");
  return o;
}

// --- Buffers ---

Buffer::Buffer(Device device, int64_t floats, std::mt19937& rng, bool fill)
    : device_(device), bytes_(sizeof(float) * static_cast<size_t>(std::max<int64_t>(floats, 1))) {
  ptr_ = static_cast<float*>(allocate(device_, bytes_));
  if (!fill) return;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> host(static_cast<size_t>(floats));
  for (float& v : host) v = normal(rng);
  upload(host.data(), sizeof(float) * host.size());
}

Buffer::~Buffer() { deallocate(device_, ptr_, bytes_); }

void Buffer::upload(const void* host, size_t bytes) {
  XMKD_CHECK(bytes <= bytes_, "bench_kernels: ", bytes, " bytes into a buffer of ", bytes_);
  if (device_ == Device::CUDA) cuda::copy_host_to_device(ptr_, host, bytes);
  else std::copy_n(static_cast<const char*>(host), bytes, reinterpret_cast<char*>(ptr_));
}

// --- The report ---

Report::Report(const Options& o) : o_(o) {
  XMKD_CHECK(cuda::device_count() > 0, "bench_kernels: no CUDA device");
  device_name_ = cuda::device_properties(0).name;
  int l2_bytes = 0;
  XMKD_CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, 0));
  flush_bytes_ = 2 * static_cast<size_t>(std::max(l2_bytes, 1 << 20));
  flush_ = cuda::device_malloc(flush_bytes_);
}

Report::~Report() { cuda::device_free(flush_); }

void Report::measure(Row row, Device device, const std::function<void()>& run) {
  for (int i = 0; i < o_.warmup; ++i) run();
  std::vector<double> ms;
  if (device == Device::CUDA) {
    cudaStream_t s = cuda::stream();
    cudaEvent_t start, stop;
    XMKD_CUDA_CHECK(cudaEventCreate(&start));
    XMKD_CUDA_CHECK(cudaEventCreate(&stop));
    for (int i = 0; i < o_.iters; ++i) {
      XMKD_CUDA_CHECK(cudaMemsetAsync(flush_, i & 0xff, flush_bytes_, s));
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
  } else {
    for (int i = 0; i < o_.iters; ++i) {
      const auto start = std::chrono::steady_clock::now();
      run();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
  }
  const double min_ms = *std::min_element(ms.begin(), ms.end());
  const double median_ms = median_of(ms);
  const double rate = row.work / (median_ms * 1e-3) / 1e9;
  const char* unit = row.flops ? "GFLOP/s" : "GB/s";
  std::fprintf(stderr, "batch %3d  %3dx%-3d  %-14s %-16s %-40s %-18s %9.3f ms  %8.1f %s\n", row.batch, row.size,
               row.size, row.kernel.c_str(), row.pass.c_str(), row.shape.c_str(), row.implementation.c_str(),
               median_ms, rate, unit);
  std::fflush(stderr);
  rows_ << (first_ ? "\n" : ",\n") << "    {\"kernel\": " << json_string(row.kernel)
        << ", \"pass\": " << json_string(row.pass) << ", \"implementation\": " << json_string(row.implementation)
        << ", \"batch\": " << row.batch << ", \"size\": " << row.size << ", \"shape\": " << json_string(row.shape)
        << ", \"count_in_network\": " << row.count_in_network << ", \"median_ms\": " << median_ms
        << ", \"min_ms\": " << min_ms << ", \"rate\": " << rate << ", \"unit\": " << json_string(unit) << "}";
  first_ = false;
}

std::string Report::json() const {
  std::ostringstream json;
  json << "{\n  \"device\": " << json_string(device_name_) << ",\n  \"warmup\": " << o_.warmup
       << ",\n  \"iters\": " << o_.iters << ",\n  \"results\": [" << rows_.str() << "\n  ]\n}\n";
  return json.str();
}

// --- ResNet-18's shapes ---

std::string image_shape(int64_t n, int64_t c, int64_t h, int64_t w) {
  return "N" + std::to_string(n) + " C" + std::to_string(c) + " " + std::to_string(h) + "x" + std::to_string(w);
}

Resnet18Sizes resnet18_sizes(int64_t size) {
  Resnet18Sizes s;
  s.s2 = (size + 1) / 2;   // conv1 7x7/2 pad 3
  s.s4 = (s.s2 + 1) / 2;   // max pool 3x3/2 pad 1
  s.s8 = (s.s4 + 1) / 2;
  s.s16 = (s.s8 + 1) / 2;
  s.s32 = (s.s16 + 1) / 2;
  return s;
}

namespace {

Conv2dGeometry geometry(int64_t n, int64_t c, int64_t hw, int64_t k, int64_t rs, int64_t stride, int64_t pad) {
  Conv2dGeometry g;
  g.N = n, g.C = c, g.H = hw, g.W = hw, g.K = k, g.R = rs, g.S = rs, g.stride = stride, g.pad = pad, g.dilation = 1;
  g.P = (hw + 2 * pad - (rs - 1) - 1) / stride + 1;
  g.Q = g.P;
  return g;
}

}  // namespace

std::vector<ConvLayer> resnet18_convs(int64_t n, int64_t size) {
  const Resnet18Sizes s = resnet18_sizes(size);
  return {
      {"conv1 7x7/2", 1, geometry(n, 3, size, 64, 7, 2, 3)},
      {"layer1 3x3", 4, geometry(n, 64, s.s4, 64, 3, 1, 1)},
      {"layer2.0.conv1 3x3/2", 1, geometry(n, 64, s.s4, 128, 3, 2, 1)},
      {"layer2 3x3", 3, geometry(n, 128, s.s8, 128, 3, 1, 1)},
      {"layer2.0.downsample 1x1/2", 1, geometry(n, 64, s.s4, 128, 1, 2, 0)},
      {"layer3.0.conv1 3x3/2", 1, geometry(n, 128, s.s8, 256, 3, 2, 1)},
      {"layer3 3x3", 3, geometry(n, 256, s.s16, 256, 3, 1, 1)},
      {"layer3.0.downsample 1x1/2", 1, geometry(n, 128, s.s8, 256, 1, 2, 0)},
      {"layer4.0.conv1 3x3/2", 1, geometry(n, 256, s.s16, 512, 3, 2, 1)},
      {"layer4 3x3", 3, geometry(n, 512, s.s32, 512, 3, 1, 1)},
      {"layer4.0.downsample 1x1/2", 1, geometry(n, 256, s.s16, 512, 1, 2, 0)},
  };
}

// --- Convolution: each CUDA backend, and the CPU reference at the smallest size ---

void bench_conv(const Options& o, Report& report, std::mt19937& rng) {
  for (int batch : o.batches) {
    for (int size : o.sizes) {
      for (const ConvLayer& layer : resnet18_convs(batch, size)) {
        const Conv2dGeometry& g = layer.g;
        std::vector<std::pair<std::string, Device>> implementations;
        for (const std::string& name : o.conv_backends) implementations.push_back({name, Device::CUDA});
        if (o.cpu_at(batch, size)) implementations.push_back({"cpu", Device::CPU});
        for (const auto& [name, device] : implementations) {
          if (device == Device::CUDA) {
            const cuda::ConvBackend backend = cuda::parse_conv_backend(name);
            if (!cuda::conv_backend_available(backend)) {
              std::cerr << "bench_kernels: skipping conv backend " << name << " (not built)\n";
              continue;
            }
            cuda::set_conv_backend(backend);
          }
          Buffer x(device, g.N * g.C * g.H * g.W, rng, true), w(device, g.K * g.C * g.R * g.S, rng, true);
          Buffer dy(device, g.N * g.K * g.P * g.Q, rng, true), y(device, g.N * g.K * g.P * g.Q, rng, false);
          Buffer dx(device, g.N * g.C * g.H * g.W, rng, false), dw(device, g.K * g.C * g.R * g.S, rng, false);
          const bool gpu = device == Device::CUDA;
          // One scratch buffer for the three passes, as large as the largest asks (kernels/defs/conv.def).
          int64_t floats = 0;
          for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeight}) {
            int64_t pass_floats = 0;
            (gpu ? cuda::conv2d_workspace : cpu::conv2d_workspace)(g, pass, &pass_floats);
            floats = std::max(floats, pass_floats);
          }
          Buffer workspace(device, floats, rng, false);
          const auto forward = gpu ? cuda::conv2d_forward : cpu::conv2d_forward;
          const auto backward_data = gpu ? cuda::conv2d_backward_data : cpu::conv2d_backward_data;
          const auto backward_weight = gpu ? cuda::conv2d_backward_weight : cpu::conv2d_backward_weight;
          const std::string shape = std::string(layer.name) + ": " + image_shape(g.N, g.C, g.H, g.W) + " -> K" +
                                    std::to_string(g.K);
          Row row{"conv", "", name, batch, size, shape, layer.count, 2.0 * g.N * g.K * g.P * g.Q * g.C * g.R * g.S,
                  true};
          row.pass = "forward";
          report.measure(row, device, [&] { forward(g, x.get(), w.get(), nullptr, y.get(), workspace.get()); });
          row.pass = "backward_data";
          report.measure(row, device, [&] { backward_data(g, dy.get(), w.get(), dx.get(), workspace.get()); });
          row.pass = "backward_weight";
          report.measure(row, device,
                         [&] { backward_weight(g, x.get(), dy.get(), dw.get(), nullptr, workspace.get()); });
        }
      }
    }
  }
  cuda::set_conv_backend(cuda::ConvBackend::Handwritten);
}

namespace {

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  Report report(o);
  std::mt19937 rng(1234);
  if (o.wants("conv")) bench_conv(o, report, rng);
  bench_ops(o, report, rng);
  if (o.out.empty()) {
    std::cout << report.json();
  } else {
    std::ofstream(o.out) << report.json();
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
