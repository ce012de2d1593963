// `xmkd fashion-mnist`: trains a ResNet-18 (1 input channel) on Fashion-MNIST from Debian's
// dataset-fashion-mnist package and reports the test accuracy after each epoch — the engine on a
// real image set, end to end. bench/fashion_mnist_torch.py runs the same recipe in PyTorch.
//
// Recipe: per-pixel normalisation with the training set's mean and std, random horizontal flips,
// Adam (lr 1e-3), batch 128, cosine learning-rate decay over the run, cross-entropy.
#include <chrono>
#include <cstdio>
#include <memory>

#include "data/datasets.h"
#include "data/loader.h"
#include "data/metrics.h"
#include "engine/autograd.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "models/resnet18.h"
#include "tools/train/ui.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

struct FashionMnistOptions {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 3;
  int64_t batch = 128;
  double lr = 1e-3;
  int workers = 2;
  uint64_t seed = 0;
  std::string device = "cpu";
};

double evaluate(models::ResNet18& model, data::DataLoader& loader) {
  NoGradGuard no_grad;
  model.eval();
  data::ConfusionMatrix cm(model.num_classes());
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) cm.add(data::argmax_classes(model.forward(batch.inputs[0])), batch.labels[0]);
  model.train();
  return cm.accuracy();
}

void run(const FashionMnistOptions& o) {
  const Device device = parse_device(o.device);
  auto train_set = data::open_fashion_mnist(o.dir, "train");
  auto test_set = data::open_fashion_mnist(o.dir, "test");
  const data::ChannelStats stats = data::compute_channel_stats(*train_set, train_set->size());
  auto normalize = data::normalize(0, stats.mean[0], stats.std[0]);
  data::GeometricOptions flip;
  flip.hflip = 0.5f;

  data::LoaderOptions train_opts;
  train_opts.batch_size = o.batch;
  train_opts.workers = o.workers;
  train_opts.seed = o.seed;
  train_opts.device = device;
  train_opts.transform = data::compose({data::geometric(flip), normalize});
  data::LoaderOptions test_opts = train_opts;
  test_opts.shuffle = false;
  test_opts.transform = normalize;
  data::DataLoader train_loader(train_set, train_opts);
  data::DataLoader test_loader(test_set, test_opts);

  manual_seed(o.seed);
  models::ResNet18 model(1, train_set->num_classes());
  model.to(device);
  optim::AdamOptions adam_opts;
  adam_opts.lr = o.lr;
  optim::Adam adam(model.named_parameters(), adam_opts);
  const int64_t total_steps = o.epochs * train_loader.batches_per_epoch();
  optim::CosineLr schedule(o.lr, total_steps);

  std::printf("fashion-mnist: %lld train / %lld test images, ResNet-18 (%lld parameters), %d epochs of %lld "
              "batches on %s\n",
              static_cast<long long>(train_set->size()), static_cast<long long>(test_set->size()),
              static_cast<long long>(model.num_parameters()), o.epochs,
              static_cast<long long>(train_loader.batches_per_epoch()), o.device.c_str());
  const auto start = std::chrono::steady_clock::now();
  int64_t step = 0;
  double accuracy = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    train_loader.start_epoch(epoch);
    data::Batch batch;
    double loss_sum = 0;
    int64_t batches = 0;
    while (train_loader.next(batch)) {
      adam.set_lr(schedule.lr_at(step++));
      adam.zero_grad();
      Tensor loss = cross_entropy(model.forward(batch.inputs[0]), batch.labels[0]);
      loss.backward();
      adam.step();
      loss_sum += loss.item();
      ++batches;
    }
    accuracy = evaluate(model, test_loader);
    std::printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.0f s elapsed\n", epoch + 1, loss_sum / batches,
                100.0 * accuracy, train::seconds_since(start));
    std::fflush(stdout);
  }
  std::printf("{\"impl\":\"xmkd\",\"task\":\"fashion-mnist\",\"epochs\":%d,\"test_accuracy\":%.4f,\"seconds\":%.1f}\n",
              o.epochs, accuracy, train::seconds_since(start));
}

}  // namespace

void register_fashion_mnist(CLI::App& app) {
  static FashionMnistOptions o;
  auto* cmd = app.add_subcommand("fashion-mnist", "Train ResNet-18 on Fashion-MNIST and report test accuracy");
  cmd->add_option("--dir", o.dir, "directory of the idx files (apt-get install dataset-fashion-mnist)")
      ->capture_default_str();
  cmd->add_option("--epochs", o.epochs, "epochs")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o.batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--lr", o.lr, "Adam learning rate (cosine decay to 0)")->capture_default_str();
  cmd->add_option("--workers", o.workers, "loader threads")->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed")->capture_default_str();
  cmd->add_option("--device", o.device, "cpu or cuda")->capture_default_str();
  cmd->callback([] { run(o); });
}

}  // namespace xmkd::cli
