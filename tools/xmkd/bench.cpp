// `xmkd bench train-step`: times full training steps (forward, cross-entropy, backward, Adam
// update) of a model on random data and prints one JSON line. bench/torch_reference.py runs the
// identical workload in PyTorch; bench/compare.sh runs both.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

#include "engine/allocator.h"
#include "engine/optim/optimizer.h"
#include "kernels/cuda/runtime.h"
#include "models/resnet18.h"
#include "models/segmenter.h"
#include "tools/xmkd/commands.h"

extern "C" void openblas_set_num_threads(int);

namespace xmkd::cli {
namespace {

struct TrainStepOptions {
  std::string model = "resnet18";
  int64_t batch = 32, size = 64, channels = 3, classes = 10;
  std::string device = "cpu";
  int warmup = 2, iters = 10, threads = 0;
  uint64_t seed = 0;
};

// Resident set size now, in bytes (from /proc/self/statm).
size_t current_rss() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

size_t peak_rss() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;
}

void run_train_step(const TrainStepOptions& o) {
  const Device device = parse_device(o.device);
  XMKD_CHECK(o.model == "resnet18" || o.model == "segmenter", "bench train-step: unknown --model '", o.model,
             "': expected resnet18 or segmenter");
  if (o.threads > 0) {
    omp_set_num_threads(o.threads);
    openblas_set_num_threads(o.threads);
  }
  const size_t rss_before = current_rss();
  manual_seed(o.seed);

  std::shared_ptr<Module> model;
  if (o.model == "resnet18") model = std::make_shared<models::ResNet18>(o.channels, o.classes);
  else model = std::make_shared<models::Segmenter>(o.channels, o.classes);
  model->to(device);
  model->train();
  optim::Adam adam(model->named_parameters(), optim::AdamOptions{});

  Generator gen(o.seed + 1);
  Tensor x = rand_normal({o.batch, o.channels, o.size, o.size}, 0.0f, 1.0f, gen, device);
  Shape label_shape = o.model == "resnet18" ? Shape{o.batch} : Shape{o.batch, o.size, o.size};
  Tensor labels = Tensor::empty(label_shape, DType::Int64);
  for (int64_t i = 0; i < labels.numel(); ++i) labels.data<int64_t>()[i] = gen.randint(o.classes);
  labels = labels.to(device);

  auto step = [&] {
    adam.zero_grad();
    Tensor loss = cross_entropy(model->forward(x), labels);
    loss.backward();
    adam.step();
    if (device == Device::CUDA) cuda::synchronize();
    return loss.item();
  };
  for (int i = 0; i < o.warmup; ++i) step();
  reset_peak_memory(device);
  std::vector<double> ms;
  float last_loss = 0;
  for (int i = 0; i < o.iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    last_loss = step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  nlohmann::json out = {
      {"impl", "xmkd"},
      {"model", o.model},
      {"device", o.device},
      {"batch", o.batch},
      {"size", o.size},
      {"channels", o.channels},
      {"classes", o.classes},
      {"threads", device == Device::CPU ? omp_get_max_threads() : 0},
      {"iters", o.iters},
      {"step_ms_median", median},
      {"step_ms_min", ms.front()},
      {"images_per_s", 1000.0 * static_cast<double>(o.batch) / median},
      {"peak_tensor_bytes", memory_stats(device).peak_in_use},
      {"peak_rss_delta_bytes", peak_rss() - rss_before},
      {"final_loss", last_loss},
  };
  std::printf("%s\n", out.dump().c_str());
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks (prints JSON lines)");
  bench->require_subcommand(1);

  static TrainStepOptions o;
  auto* ts = bench->add_subcommand("train-step", "Time training steps (forward, loss, backward, Adam) on random data");
  ts->add_option("--model", o.model, "resnet18 or segmenter")->capture_default_str();
  ts->add_option("--batch", o.batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  ts->add_option("--size", o.size, "image height and width")->capture_default_str()->check(CLI::PositiveNumber);
  ts->add_option("--channels", o.channels, "input channels")->capture_default_str()->check(CLI::PositiveNumber);
  ts->add_option("--classes", o.classes, "classes")->capture_default_str()->check(CLI::PositiveNumber);
  ts->add_option("--device", o.device, "cpu or cuda")->capture_default_str();
  ts->add_option("--warmup", o.warmup, "untimed steps first")->capture_default_str();
  ts->add_option("--iters", o.iters, "timed steps")->capture_default_str()->check(CLI::PositiveNumber);
  ts->add_option("--threads", o.threads, "CPU threads (0: all cores)")->capture_default_str();
  ts->add_option("--seed", o.seed, "seed of weights and data")->capture_default_str();
  ts->callback([] { run_train_step(o); });
}

}  // namespace xmkd::cli
