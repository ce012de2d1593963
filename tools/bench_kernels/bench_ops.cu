// The kernels other than the convolution, on the shapes ResNet-18 (and the segmenter's decoder)
// gives them at each batch and input size: batch norm (handwritten and cuDNN), the residual
// add+ReLU, max pooling, bilinear upsampling, softmax cross-entropy (class and per-pixel labels),
// cosine similarity (the orthogonality terms), the fc GEMM (cuBLAS) and the fused Adam update.
// Each beside the CPU reference at the smallest size. Timing and rates: bench.h.
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/backends.h"
#include "kernels/kernels.h"
#include "tools/bench_kernels/bench.h"

namespace xmkd::bench {
namespace {

// The CPU or the CUDA version of a kernel (identical signatures: kernels/kernels.h).
template <class F>
F pick(Device device, F cpu_kernel, F cuda_kernel) {
  return device == Device::CUDA ? cuda_kernel : cpu_kernel;
}

struct Implementation {
  std::string name;
  Device device;
};

// The CUDA implementations named, then the CPU reference where the options want it.
std::vector<Implementation> implementations(const Options& o, int batch, int size,
                                            const std::vector<std::string>& cuda_names) {
  std::vector<Implementation> list;
  for (const std::string& name : cuda_names) list.push_back({name, Device::CUDA});
  if (o.cpu_at(batch, size)) list.push_back({"cpu", Device::CPU});
  return list;
}

constexpr double kFloat = sizeof(float);

// A (channels, spatial size) feature map and how many times the network has one of its kind.
struct Map {
  int64_t channels, hw;
  int count;
};

void bench_batchnorm(const Options& o, Report& report, std::mt19937& rng, int batch, int size) {
  const Resnet18Sizes s = resnet18_sizes(size);
  // bn1; the 4 of layer1; 4 + the downsample's in each later stage.
  for (const Map& m : {Map{64, s.s2, 1}, Map{64, s.s4, 4}, Map{128, s.s8, 5}, Map{256, s.s16, 5},
                       Map{512, s.s32, 5}}) {
    const int64_t N = batch, C = m.channels, inner = m.hw * m.hw, n = N * C * inner;
    for (const Implementation& impl : implementations(o, batch, size, o.batchnorm_backends)) {
      if (impl.device == Device::CUDA) {
        const cuda::BatchNormBackend backend = cuda::parse_batchnorm_backend(impl.name);
        if (!cuda::batchnorm_backend_available(backend)) continue;
        cuda::set_batchnorm_backend(backend);
      }
      const Device d = impl.device;
      Buffer x(d, n, rng, true), dy(d, n, rng, true), y(d, n, rng, false), dx(d, n, rng, false);
      Buffer w(d, C, rng, true), b(d, C, rng, true), running_mean(d, C, rng, true), running_var(d, C, rng, true);
      Buffer save_mean(d, C, rng, false), save_invstd(d, C, rng, false), dw(d, C, rng, false), db(d, C, rng, false);
      int64_t workspace_floats = 0;
      (d == Device::CUDA ? cuda::batchnorm_workspace : cpu::batchnorm_workspace)(C, &workspace_floats);
      Buffer workspace(d, workspace_floats, rng, false);
      const auto forward = pick(d, cpu::batchnorm_forward_training, cuda::batchnorm_forward_training);
      const auto backward = pick(d, cpu::batchnorm_backward, cuda::batchnorm_backward);
      Row row{"batchnorm", "forward_training", impl.name, batch, size, image_shape(N, C, m.hw, m.hw), m.count,
              2 * n * kFloat, false};
      report.measure(row, d, [&] {
        forward(N, C, inner, x.get(), w.get(), b.get(), running_mean.get(), running_var.get(), 0.1f, 1e-5f,
                y.get(), save_mean.get(), save_invstd.get(), workspace.get());
      });
      row.pass = "backward_training";
      row.work = 3 * n * kFloat;
      report.measure(row, d, [&] {
        backward(N, C, inner, true, x.get(), dy.get(), w.get(), save_mean.get(), save_invstd.get(), 1e-5f,
                 dx.get(), dw.get(), db.get(), workspace.get());
      });
    }
  }
  cuda::set_batchnorm_backend(cuda::BatchNormBackend::Handwritten);
}

void bench_add_relu(const Options& o, Report& report, std::mt19937& rng, int batch, int size) {
  const Resnet18Sizes s = resnet18_sizes(size);
  // The residual join at the end of each of the 2 blocks of each stage.
  for (const Map& m : {Map{64, s.s4, 2}, Map{128, s.s8, 2}, Map{256, s.s16, 2}, Map{512, s.s32, 2}}) {
    const int64_t n = batch * m.channels * m.hw * m.hw;
    for (const Implementation& impl : implementations(o, batch, size, {"handwritten"})) {
      const Device d = impl.device;
      Buffer a(d, n, rng, true), b(d, n, rng, true), y(d, n, rng, false);
      const auto add_relu = pick(d, cpu::add_relu_forward, cuda::add_relu_forward);
      report.measure({"add_relu", "forward", impl.name, batch, size, image_shape(batch, m.channels, m.hw, m.hw),
                      m.count, 3 * n * kFloat, false},
                     d, [&] { add_relu(n, a.get(), b.get(), y.get()); });
    }
  }
}

void bench_max_pool(const Options& o, Report& report, std::mt19937& rng, int batch, int size) {
  const Resnet18Sizes s = resnet18_sizes(size);
  Pool2dGeometry g;   // the stem's 3x3/2 pad 1 max pool
  g.N = batch, g.C = 64, g.H = s.s2, g.W = s.s2, g.P = s.s4, g.Q = s.s4, g.kernel = 3, g.stride = 2, g.pad = 1;
  const int64_t nx = g.N * g.C * g.H * g.W, ny = g.N * g.C * g.P * g.Q;
  for (const Implementation& impl : implementations(o, batch, size, {"handwritten"})) {
    const Device d = impl.device;
    Buffer x(d, nx, rng, true), y(d, ny, rng, false), argmax(d, ny, rng, false), dy(d, ny, rng, true),
        dx(d, nx, rng, false);
    const auto forward = pick(d, cpu::max_pool2d_forward, cuda::max_pool2d_forward);
    const auto backward = pick(d, cpu::max_pool2d_backward, cuda::max_pool2d_backward);
    Row row{"max_pool", "forward", impl.name, batch, size, image_shape(g.N, g.C, g.H, g.W) + " 3x3/2", 1,
            (nx + 2 * ny) * kFloat, false};
    // Forward first: backward reads the argmax it leaves.
    report.measure(row, d, [&] { forward(g, x.get(), y.get(), argmax.as<int32_t>()); });
    row.pass = "backward";
    report.measure(row, d, [&] { backward(g, dy.get(), argmax.as<int32_t>(), dx.get()); });
  }
}

void bench_upsample(const Options& o, Report& report, std::mt19937& rng, int batch, int size) {
  const Resnet18Sizes s = resnet18_sizes(size);
  struct Resize {
    int64_t channels, from, to;
  };
  // The segmenter's decoder: bottleneck, 256 and 128 channels up x2, then 40-class logits from stride 4.
  for (const Resize& r : {Resize{512, s.s32, s.s16}, Resize{256, s.s16, s.s8}, Resize{128, s.s8, s.s4},
                          Resize{40, s.s4, static_cast<int64_t>(size)}}) {
    const int64_t planes = batch * r.channels, nx = planes * r.from * r.from, ny = planes * r.to * r.to;
    for (const Implementation& impl : implementations(o, batch, size, {"handwritten"})) {
      const Device d = impl.device;
      Buffer x(d, nx, rng, true), y(d, ny, rng, false), dy(d, ny, rng, true), dx(d, nx, rng, false);
      const auto forward = pick(d, cpu::upsample_bilinear_forward, cuda::upsample_bilinear_forward);
      const auto backward = pick(d, cpu::upsample_bilinear_backward, cuda::upsample_bilinear_backward);
      Row row{"upsample", "forward", impl.name, batch, size,
              image_shape(batch, r.channels, r.from, r.from) + " -> " + std::to_string(r.to), 1,
              (nx + ny) * kFloat, false};
      report.measure(row, d, [&] { forward(planes, r.from, r.from, r.to, r.to, x.get(), y.get()); });
      row.pass = "backward";
      report.measure(row, d, [&] { backward(planes, r.from, r.from, r.to, r.to, dy.get(), dx.get()); });
    }
  }
}

void bench_cross_entropy(const Options& o, Report& report, std::mt19937& rng, int batch, int size) {
  struct Case {
    const char* what;
    int64_t classes, inner;
  };
  // ResNet-18's 1000-way head; per-pixel labels over 40 classes at the input size (NYU Depth v2).
  for (const Case& c : {Case{"class labels", 1000, 1}, Case{"per-pixel labels", 40, int64_t{size} * size}}) {
    const int64_t outer = batch, positions = outer * c.inner, n = positions * c.classes;
    std::vector<int64_t> labels(static_cast<size_t>(positions));
    std::uniform_int_distribution<int64_t> label(0, c.classes - 1);
    for (int64_t& l : labels) l = label(rng);
    for (const Implementation& impl : implementations(o, batch, size, {"handwritten"})) {
      const Device d = impl.device;
      Buffer logits(d, n, rng, true), dlogits(d, n, rng, false), lse(d, positions, rng, false);
      Buffer label_buffer(d, 2 * positions, rng, false), scalars(d, 8, rng, false);
      label_buffer.fill_with(labels);
      scalars.fill_with(std::vector<float>{0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f});   // weight_sum, loss, grad_loss
      float* weight_sum = scalars.get();
      float* loss = scalars.get() + 1;
      const float* grad_loss = scalars.get() + 2;
      int64_t* bad_position = reinterpret_cast<int64_t*>(scalars.get() + 4);
      const auto forward = pick(d, cpu::cross_entropy_forward, cuda::cross_entropy_forward);
      const auto backward = pick(d, cpu::cross_entropy_backward, cuda::cross_entropy_backward);
      const std::string shape = std::string(c.what) + ": N" + std::to_string(outer) + " C" +
                                std::to_string(c.classes) + " positions " + std::to_string(c.inner);
      const double label_bytes = positions * 8.0;
      Row row{"cross_entropy", "forward", impl.name, batch, size, shape, 1,
              (n + positions) * kFloat + label_bytes, false};
      report.measure(row, d, [&] {
        forward(logits.get(), label_buffer.as<int64_t>(), nullptr, outer, c.classes, c.inner, -100, lse.get(),
                weight_sum, loss, bad_position);
      });
      row.pass = "backward";
      row.work = (2 * n + positions) * kFloat + label_bytes;
      report.measure(row, d, [&] {
        backward(logits.get(), label_buffer.as<int64_t>(), nullptr, lse.get(), weight_sum, grad_loss, outer,
                 c.classes, c.inner, -100, dlogits.get());
      });
    }
  }
}

void bench_cosine(const Options& o, Report& report, std::mt19937& rng, int batch, int size) {
  const Resnet18Sizes s = resnet18_sizes(size);
  struct Case {
    const char* what;
    int64_t channels, inner;
  };
  // DisCoM-KD's orthogonality on pooled 512-d features; per position on the C5 map (CroDiNo-KD).
  for (const Case& c : {Case{"pooled features", 512, 1}, Case{"C5 map", 512, s.s32 * s.s32}}) {
    const int64_t outer = batch, positions = outer * c.inner, n = positions * c.channels;
    for (const Implementation& impl : implementations(o, batch, size, {"handwritten"})) {
      const Device d = impl.device;
      Buffer a(d, n, rng, true), b(d, n, rng, true), da(d, n, rng, false), db(d, n, rng, false);
      Buffer y(d, positions, rng, false), norm_a(d, positions, rng, false), norm_b(d, positions, rng, false),
          g(d, positions, rng, true);
      const auto forward = pick(d, cpu::cosine_similarity_forward, cuda::cosine_similarity_forward);
      const auto backward = pick(d, cpu::cosine_similarity_backward, cuda::cosine_similarity_backward);
      const std::string shape = std::string(c.what) + ": N" + std::to_string(outer) + " C" +
                                std::to_string(c.channels) + " positions " + std::to_string(c.inner);
      Row row{"cosine", "forward", impl.name, batch, size, shape, 1, (2 * n + 3 * positions) * kFloat, false};
      report.measure(row, d, [&] {
        forward(a.get(), b.get(), outer, c.channels, c.inner, 1e-8f, y.get(), norm_a.get(), norm_b.get());
      });
      row.pass = "backward";
      row.work = (4 * n + 4 * positions) * kFloat;
      report.measure(row, d, [&] {
        backward(a.get(), b.get(), y.get(), norm_a.get(), norm_b.get(), g.get(), outer, c.channels, c.inner,
                 da.get(), db.get());
      });
    }
  }
}

void bench_gemm(const Options& o, Report& report, std::mt19937& rng, int batch, int size) {
  // ResNet-18's fc: x (N, 512), W (1000, 512); y = x Wᵀ, dx = dy W, dW = dyᵀ x.
  const int64_t N = batch, in = 512, out = 1000;
  for (const Implementation& impl : implementations(o, batch, size, {"cublas"})) {
    const Device d = impl.device;
    Buffer x(d, N * in, rng, true), w(d, out * in, rng, true), dy(d, N * out, rng, true);
    Buffer y(d, N * out, rng, false), dx(d, N * in, rng, false), dw(d, out * in, rng, false);
    const auto gemm = pick(d, cpu::gemm, cuda::gemm);
    const double flops = 2.0 * N * in * out;
    const std::string shape = "fc: N" + std::to_string(N) + " 512 -> 1000";
    Row row{"gemm", "forward", impl.name, batch, size, shape, 1, flops, true};
    report.measure(row, d, [&] { gemm(false, true, N, out, in, 1.0f, x.get(), w.get(), 0.0f, y.get()); });
    row.pass = "backward_data";
    report.measure(row, d, [&] { gemm(false, false, N, in, out, 1.0f, dy.get(), w.get(), 0.0f, dx.get()); });
    row.pass = "backward_weight";
    report.measure(row, d, [&] { gemm(true, false, out, in, N, 1.0f, dy.get(), x.get(), 0.0f, dw.get()); });
  }
}

void bench_adam(const Options& o, Report& report, std::mt19937& rng) {
  const int64_t n = 11689512;   // ResNet-18's parameters (1000 classes)
  for (const Implementation& impl : implementations(o, 32, 64, {"handwritten"})) {
    const Device d = impl.device;
    Buffer p(d, n, rng, true), g(d, n, rng, true), m(d, n, rng, true), v(d, n, rng, false);
    std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
    v.fill_with(zeros);   // a second moment must not be negative
    const auto adam = pick(d, cpu::adam_update, cuda::adam_update);
    report.measure({"adam", "update", impl.name, 0, 0, "ResNet-18: " + std::to_string(n) + " parameters", 1,
                    7 * n * kFloat, false},
                   d, [&] {
                     adam(p.get(), g.get(), m.get(), v.get(), n, 1.0f, 0.0f, 0.9f, 0.1f, 0.999f, 0.001f, 0.0316f,
                          1e-8f, -1e-3f);
                   });
  }
}

}  // namespace

void bench_ops(const Options& o, Report& report, std::mt19937& rng) {
  for (int batch : o.batches) {
    for (int size : o.sizes) {
      if (o.wants("batchnorm")) bench_batchnorm(o, report, rng, batch, size);
      if (o.wants("add_relu")) bench_add_relu(o, report, rng, batch, size);
      if (o.wants("max_pool")) bench_max_pool(o, report, rng, batch, size);
      if (o.wants("upsample")) bench_upsample(o, report, rng, batch, size);
      if (o.wants("cross_entropy")) bench_cross_entropy(o, report, rng, batch, size);
      if (o.wants("cosine")) bench_cosine(o, report, rng, batch, size);
      if (o.wants("gemm")) bench_gemm(o, report, rng, batch, size);
    }
  }
  if (o.wants("adam")) bench_adam(o, report, rng);   // independent of the batch and input size
}

}  // namespace xmkd::bench
