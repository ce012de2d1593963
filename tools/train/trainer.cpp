#include "tools/train/trainer.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/io/atomic_file.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/backends.h"
#include "models/methods.h"
#include "tools/train/checkpoint.h"
#include "tools/train/data_setup.h"
#include "tools/train/distributed.h"
#include "tools/train/evaluate.h"
#include "tools/train/optim_setup.h"
#include "tools/train/ui.h"

namespace xmkd::train {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupt{false};

void on_sigint(int) {
  // The first Ctrl-C asks the loop to stop after its step; a second one ends the process.
  if (g_interrupt.exchange(true)) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

// [total, part 0, part 1, ...] of one step's loss, read from the device in one copy.
std::vector<float> loss_values(const LossTerms& terms) {
  NoGradGuard no_grad;
  std::vector<Tensor> scalars = {terms.total.detach().view({1, 1})};
  for (const auto& part : terms.parts) scalars.push_back(part.second.detach().view({1, 1}));
  return concat_channels(scalars).to(Device::CPU).to_vector<float>();
}

// The step's loss values averaged over the ranks, and whether any rank was asked to stop: one
// small all-reduce per step, so that every rank logs the same numbers and takes the same
// decisions (a non-finite loss, an interruption) at the same step.
bool average_over_ranks(Communicator& ranks, std::vector<float>& values, bool stop) {
  if (ranks.size() == 1) return stop;
  std::vector<float> packed = values;
  packed.push_back(stop ? 1.0f : 0.0f);
  Tensor t = Tensor::from_vector(packed, {static_cast<int64_t>(packed.size())});
  ranks.all_reduce_sum(t);
  packed = t.to_vector<float>();
  for (size_t k = 0; k < values.size(); ++k) values[k] = packed[k] / static_cast<float>(ranks.size());
  return packed.back() > 0.0f;
}

// The seed of the Generator handed to the method at (epoch, step): unrelated streams per step.
uint64_t step_seed(uint64_t seed, int64_t epoch, int64_t step) {
  uint64_t h = mix64(seed + 0x5851f42d4c957f2dULL);
  h = mix64(h ^ (static_cast<uint64_t>(epoch) + kGoldenGamma));
  return mix64(h ^ (static_cast<uint64_t>(step) + 0x632be59bd9b4e019ULL));
}

std::string file_stem(const std::string& path) {
  const std::string stem = fs::path(path).stem().string();
  return stem.empty() ? "config" : stem;
}

}  // namespace

std::atomic<bool>& interrupt_flag() { return g_interrupt; }

void install_interrupt_handler() {
  g_interrupt.store(false);
  std::signal(SIGINT, on_sigint);
}

struct Trainer::State {
  io::Config config;
  TrainerOptions options;
  std::string run_dir;
  RunFiles files;

  std::string name, method_name;
  uint64_t seed = 0;
  Device device = Device::CPU;
  int64_t epochs = 1, eval_every = 1;
  DataSetup data;
  std::shared_ptr<models::Method> method;
  std::unique_ptr<optim::Optimizer> optimizer;
  ScheduleSetup schedule;
  std::unique_ptr<data::DataLoader> train_loader, val_loader, test_loader;

  Progress progress;   // what last.safetensors records beside the weights

  // Data parallelism (train.distributed): the ranks (one LocalCommunicator for one process), the
  // gradient all-reduce (several ranks only), and whether batch norm is synchronised.
  std::shared_ptr<Communicator> ranks;
  std::unique_ptr<GradientReducer> reducer;
  bool sync_batchnorm = false;
  std::vector<Tensor> rank0_buffers;   // broadcast from rank 0 before every step (several ranks, no sync BN)
  int64_t session_steps = 0;   // steps taken by this process (options.stop_after_steps)
  bool root() const { return ranks->rank() == 0; }

  explicit State(io::Config c) : config(std::move(c)) {}
  ~State() {
    if (ranks && batchnorm_communicator() == ranks.get()) set_batchnorm_communicator(nullptr);
  }

  std::atomic<bool>& interrupt() const { return options.interrupt ? *options.interrupt : interrupt_flag(); }
  // Rank 0 writes the run's files; the other ranks hold the same state.
  void save_last() const {
    if (root()) train::save_last(files, *method, *optimizer, progress, method_name);
  }

  [[noreturn]] void stop_non_finite(int64_t epoch, int64_t step, float total, const LossTerms& terms) const {
    std::string parts;
    for (const auto& [n, t] : terms.parts) {
      const float v = t.item();
      if (!std::isfinite(v)) parts += str_cat(parts.empty() ? "" : ", ", n, " = ", v);
    }
    fail("training stopped at epoch ", epoch + 1, ", step ", step + 1, ": the loss is not finite (total = ", total,
         parts.empty() ? std::string("; every logged part is finite") : "; non-finite: " + parts, "). ", files.last(),
         progress.epochs_done > 0 ? str_cat(" still holds epoch ", progress.epochs_done, " (the last good state)") : std::string(" was not written"),
         "; try a lower train.optimizer.lr");
  }

  // One epoch's training steps, from progress.step_in_epoch on; *samples and *train_seconds count this
  // session's part of the epoch. False when interrupted.
  bool train_epoch(int64_t epoch, ProgressBar& bar, int64_t& samples, double* train_seconds) {
    const int64_t steps = train_loader->batches_per_epoch();
    const auto t0 = std::chrono::steady_clock::now();
    method->train();
    data::Batch batch;
    if (progress.step_in_epoch < steps) {
      train_loader->start_epoch(epoch);
      // The loader's order is a function of (seed, epoch): skipping the batches an interrupted
      // run already took puts it where that run stopped.
      for (int64_t s = 0; s < progress.step_in_epoch; ++s) XMKD_CHECK(train_loader->next(batch), "resume: the loader ran out of batches");
    }
    for (int64_t step = progress.step_in_epoch; step < steps; ++step) {
      if (!train_loader->next(batch)) break;
      if (schedule.per_step) optimizer->set_lr(schedule.lr(epoch * steps + step));
      Generator gen(step_seed(seed, epoch, step));
      TrainProgress at;   // what the method is told of where training is
      at.epoch = epoch;
      at.epochs = epochs;
      at.step = step;
      at.steps_per_epoch = steps;
      at.gen = &gen;
      // Without synchronised batch norm each rank's running statistics follow its own batches;
      // as in PyTorch's DDP every step starts from rank 0's.
      broadcast_tensors(*ranks, rank0_buffers);
      LossTerms terms = method->training_loss(batch, at);
      // The step's one device-to-host copy: the total and every logged part together.
      std::vector<float> values = loss_values(terms);
      session_steps += 1;
      const bool stop_asked = interrupt().load() || (options.stop_after_steps > 0 && session_steps >= options.stop_after_steps);
      const bool stop = average_over_ranks(*ranks, values, stop_asked);
      const float total = values[0];
      if (!std::isfinite(total)) stop_non_finite(epoch, step, total, terms);
      method->zero_grad();
      if (reducer) reducer->backward(terms.total);
      else terms.total.backward();
      optimizer->step();

      progress.partial.add("loss", total);
      for (size_t k = 0; k < terms.parts.size(); ++k) progress.partial.add(terms.parts[k].first, values[k + 1]);
      progress.partial.steps += 1;
      progress.partial.samples += batch.size() * ranks->size();
      progress.step_in_epoch = step + 1;
      samples += batch.size() * ranks->size();
      *train_seconds = seconds_since(t0);
      // "loss" is the partial sums' first entry.
      const double mean_loss = progress.partial.sums.front().second / static_cast<double>(progress.partial.steps);
      bar.update(step + 1, {{"loss", mean_loss}}, static_cast<double>(samples) / std::max(*train_seconds, 1e-9));
      if (stop) return false;
    }
    *train_seconds = seconds_since(t0);
    return true;
  }

  json validate(int64_t epoch) {
    const std::vector<models::MethodOutput> outputs = method->outputs();
    std::vector<size_t> all(outputs.size());
    for (size_t k = 0; k < outputs.size(); ++k) all[k] = k;
    std::vector<data::ConfusionMatrix> confusion = evaluate_outputs(*method, *val_loader, data.info, all);
    sum_over_ranks(confusion);
    json val = json::object();
    for (size_t k = 0; k < outputs.size(); ++k) {
      json entry = json::object();
      for (const auto& [n, v] : summary_metrics(confusion[k], data.info.task)) entry[n] = v;
      val[outputs[k].name] = entry;
      const double value = selection_value(confusion[k], data.info.task);
      Best& b = progress.best[outputs[k].name];
      if (std::isfinite(value) && value > b.value) {
        b = {value, epoch + 1};
        if (root()) write_best(files, *method, outputs[k], data.info, method_name, epoch + 1, value);
      }
    }
    return val;
  }

  // Whether any rank was interrupted (a collective: every rank asks at the same point).
  bool stop_requested() const {
    std::vector<float> none;
    return average_over_ranks(*ranks, none, interrupt().load());
  }

  // Each rank scored its shard of the validation split: the sums are the whole split's counts.
  void sum_over_ranks(std::vector<data::ConfusionMatrix>& confusion) const {
    if (ranks->size() == 1) return;
    std::vector<int64_t> counts;
    for (const auto& c : confusion) counts.insert(counts.end(), c.counts().begin(), c.counts().end());
    Tensor t = Tensor::from_vector(counts, {static_cast<int64_t>(counts.size())});
    ranks->all_reduce_sum(t);
    counts = t.to_vector<int64_t>();
    size_t at = 0;
    for (auto& c : confusion) {
      const size_t n = c.counts().size();
      c.set_counts(std::vector<int64_t>(counts.begin() + static_cast<std::ptrdiff_t>(at),
                                        counts.begin() + static_cast<std::ptrdiff_t>(at + n)));
      at += n;
    }
  }

  void announce_interrupt() const {
    if (!root()) return;
    const std::string launcher = ranks->size() > 1 ? str_cat("mpirun -np ", ranks->size(), " ") : std::string();
    std::fprintf(stderr, "interrupted: saved %s (epoch %lld, step %lld); resume with %sxmkd train --resume %s\n",
                 files.last().c_str(), static_cast<long long>(progress.epochs_done + 1), static_cast<long long>(progress.step_in_epoch),
                 launcher.c_str(), run_dir.c_str());
  }

  TrainStatus train() {
    const int64_t steps = train_loader->batches_per_epoch();
    const bool interactive = stderr_is_terminal();
    // Whole epochs (training and validation) timed in this session, for the run's ETA.
    double timed_seconds = 0;
    int64_t timed_epochs = 0;
    auto mean_epoch_seconds = [&] { return timed_epochs > 0 ? timed_seconds / static_cast<double>(timed_epochs) : 0.0; };
    for (int64_t epoch = progress.epochs_done; epoch < epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      const bool whole_epoch = progress.step_in_epoch == 0;
      if (!schedule.per_step) optimizer->set_lr(schedule.lr(epoch));
      const double lr = schedule.lr(schedule.per_step ? epoch * steps : epoch);   // at the epoch's first step
      ProgressBar bar(str_cat("epoch ", epoch + 1, "/", epochs), steps, interactive, options.progress_seconds);
      if (!root()) bar.silence();
      const int64_t later_epochs = epochs - epoch - 1;
      bar.set_run(later_epochs, mean_epoch_seconds());
      double train_seconds = 0;
      int64_t samples = 0;
      if (!train_epoch(epoch, bar, samples, &train_seconds)) {
        bar.finish("interrupted");
        save_last();
        announce_interrupt();
        return TrainStatus::Interrupted;
      }
      json line = {{"epoch", epoch + 1}, {"lr", lr}};
      json train_json = json::object();
      for (const auto& [n, v] : progress.partial.means()) train_json[n] = v;
      const bool validate_now = (epoch + 1) % eval_every == 0 || epoch + 1 == epochs;
      json val = validate_now ? validate(epoch) : json(nullptr);
      const double epoch_seconds = seconds_since(t0);
      if (whole_epoch) timed_seconds += epoch_seconds, timed_epochs += 1;
      line["seconds"] = epoch_seconds;
      line["samples_per_second"] = static_cast<double>(samples) / std::max(train_seconds, 1e-9);
      line["train"] = train_json;
      if (validate_now) line["val"] = val;
      if (ranks->size() > 1) line["ranks"] = ranks->size();
      if (root()) append_metrics(files, line);

      std::string summary = str_cat("loss ", progress.partial.means().empty() ? 0.0 : progress.partial.means()[0].second);
      if (validate_now)
        for (auto it = val.begin(); it != val.end(); ++it)
          summary += str_cat(", ", it.key(), " ", selection_metric(data.info.task), " ",
                             100.0 * it.value()[selection_metric(data.info.task)].get<double>());
      summary += ", " + format_duration(epoch_seconds);
      if (later_epochs > 0 && timed_epochs > 0)
        summary += ", run eta " + format_duration(static_cast<double>(later_epochs) * mean_epoch_seconds());
      bar.finish(summary);

      progress.epochs_done = epoch + 1;
      progress.step_in_epoch = 0;
      progress.partial = EpochSums();
      save_last();
      try {
        if (root()) write_training_curves(files.metrics(), run_dir + "/curves.png");
      } catch (const Error& e) {
        std::fprintf(stderr, "warning: could not draw %s/curves.png: %s\n", run_dir.c_str(), e.what());
      }
      if (stop_requested() && progress.epochs_done < epochs) {
        announce_interrupt();
        return TrainStatus::Interrupted;
      }
    }
    // The test split is scored by rank 0 alone, from the best checkpoints it wrote.
    if (!root()) return TrainStatus::Finished;
    const json evaluation = evaluate_best_checkpoints(*method, run_dir, *test_loader, data.info, "test");
    io::write_text_atomically(files.eval(), evaluation.dump(2) + "\n");
    if (options.print_evaluation) print_evaluation(evaluation);
    return TrainStatus::Finished;
  }
};

Trainer::Trainer(io::Config config, TrainerOptions options) : Trainer(std::move(config), std::move(options), "") {}

Trainer::Trainer(io::Config config, TrainerOptions options, const std::string& resume_dir)
    : state_(std::make_unique<State>(std::move(config))) {
  State& s = *state_;
  s.options = std::move(options);
  if (!s.options.make_method) s.options.make_method = models::make_method;
  io::ConfigNode root = s.config.root();
  s.name = root.get_string("name", file_stem(s.config.source()));
  s.seed = static_cast<uint64_t>(root.get_int("seed", 0));

  io::ConfigNode method_node = root.child("method");
  s.method_name = method_node.has("name") ? method_node.get_string("name", "") : "student";

  io::ConfigNode train_node = root.child("train");
  s.epochs = train_node.get_int("epochs", 10);
  if (s.epochs < 1) train_node.fail("epochs", str_cat("expected at least 1, got ", s.epochs));
  s.eval_every = train_node.get_int("eval_every", 1);
  if (s.eval_every < 1) train_node.fail("eval_every", str_cat("expected at least 1, got ", s.eval_every));
  s.device = parse_device(train_node.get_choice("device", "cpu", {"cpu", "cuda"}));
  // The CUDA convolution and batch-norm implementations (kernels/cuda/backends.h), process-wide;
  // when a key is absent, XMKD_CONV_BACKEND / XMKD_BATCHNORM_BACKEND or the default (handwritten)
  // stands.
  if (train_node.has("conv_backend")) {
    const std::string conv_backend =
        train_node.get_choice("conv_backend", "handwritten", {"handwritten", "handwritten-tf32", "cudnn"});
    if (s.device == Device::CUDA) kernels::set_cuda_backend(kernels::BackendGroup::Conv, conv_backend);
  }
  if (train_node.has("batchnorm_backend")) {
    const std::string batchnorm_backend =
        train_node.get_choice("batchnorm_backend", "handwritten", {"handwritten", "cudnn"});
    if (s.device == Device::CUDA) kernels::set_cuda_backend(kernels::BackendGroup::BatchNorm, batchnorm_backend);
  }
  // Data parallelism: the ranks first, since they shard the loaders and split the cores.
  const std::string distributed = train_node.get_choice("distributed", "none", distributed_backends());
  s.sync_batchnorm = train_node.get_bool("sync_batchnorm", false);
  const double bucket_mb = train_node.get_float("bucket_mb", 25.0);
  if (!(bucket_mb > 0)) train_node.fail("bucket_mb", str_cat("expected a positive size in MiB, got ", bucket_mb));
  XMKD_CHECK(distributed != "none" || launched_ranks() == 1, s.config.source(), ": the launcher started ", launched_ranks(),
             " processes but train.distributed is 'none', so each would train alone into the same run directory; set "
             "--set train.distributed=mpi (or nccl on GPUs)");
  s.ranks = make_communicator(distributed, s.device);
  const int64_t world = s.ranks->size();

  data::LoaderOptions loader;
  loader.batch_size = train_node.get_int("batch_size", 32);
  if (loader.batch_size < 1) train_node.fail("batch_size", str_cat("expected at least 1, got ", loader.batch_size));
  const int64_t eval_batch = train_node.get_int("eval_batch_size", loader.batch_size);
  if (eval_batch < 1) train_node.fail("eval_batch_size", str_cat("expected at least 1, got ", eval_batch));
  const int64_t workers = train_node.get_int("workers", 2);
  if (workers < 0 || workers > 256) train_node.fail("workers", str_cat("expected 0..256, got ", workers));
  loader.workers = static_cast<int>(workers);
  const models::MethodDataNeeds needs = models::method_data_needs(s.method_name);
  loader.independent_modality_shuffle = train_node.get_bool("independent_shuffle", needs.independent_modality_shuffle);

  std::optional<data::ChannelStats> normalization;
  if (!resume_dir.empty()) normalization = read_run_info(resume_dir).normalization;
  s.data = setup_data(root.child("data"), normalization);
  setup_augmentation(root.child("augment"), needs, s.data);

  io::ConfigNode run_node = root.child("run");
  const std::string default_dir = str_cat("runs/", s.name, "-", s.method_name, "-seed", s.seed);
  const std::string configured_dir = run_node.get_string("dir", default_dir);
  run_node.get_string("label", "");   // the column name `xmkd report` gives this run (default: the method)
  s.run_dir = resume_dir.empty() ? configured_dir : resume_dir;
  s.files = RunFiles{s.run_dir};

  // The method: initialised from the seed, on the device.
  manual_seed(s.seed);
  s.method = s.options.make_method(method_node, s.data.info.context(s.device));
  XMKD_CHECK(s.method, "the method factory returned no method for '", s.method_name, "'");
  s.method_name = s.method->name();
  s.method->to(s.device);
  s.method->train();
  s.optimizer = make_optimizer(train_node.child("optimizer"), s.method->trainable_parameters());
  loader.seed = s.seed;
  loader.device = s.device;
  loader.shuffle = true;
  loader.drop_last = true;
  loader.transform = s.data.train_transform;
  loader.shard = s.ranks->rank();
  loader.shards = world;
  s.train_loader = std::make_unique<data::DataLoader>(s.data.train, loader);
  XMKD_CHECK(s.train_loader->batches_per_epoch() > 0, s.config.source(), ": key 'train.batch_size': ", loader.batch_size,
             world > 1 ? str_cat(" per rank times ", world, " ranks") : std::string(),
             " is larger than the training split (", s.data.train->size(), " samples); every batch would be dropped");
  s.schedule = make_schedule(train_node.child("schedule"), s.optimizer->lr(), s.epochs, s.train_loader->batches_per_epoch());
  data::LoaderOptions eval_loader = loader;
  eval_loader.batch_size = eval_batch;
  eval_loader.shuffle = false;
  eval_loader.drop_last = false;
  eval_loader.independent_modality_shuffle = false;
  eval_loader.transform = s.data.eval_transform;
  s.val_loader = std::make_unique<data::DataLoader>(s.data.val, eval_loader);   // sharded: the ranks sum their counts
  eval_loader.shard = 0;
  eval_loader.shards = 1;
  s.test_loader = std::make_unique<data::DataLoader>(s.data.test, eval_loader);   // rank 0 scores the whole split

  s.config.check_all_used();

  if (resume_dir.empty()) {
    XMKD_CHECK(!fs::exists(s.files.last()), s.run_dir, " already holds a run (", s.files.last(),
               "); continue it with `xmkd train --resume ", s.run_dir, "` or choose another directory (--out or run.dir)");
    if (s.root()) {
      fs::create_directories(s.run_dir);
      io::write_text_atomically(s.files.config(), s.config.resolved().dump(2) + "\n");
      write_run_info(s.run_dir, s.data.info);
      io::write_text_atomically(s.files.metrics(), "");
    }
  } else {
    s.progress = load_last(s.files, *s.method, *s.optimizer);
    XMKD_CHECK(s.progress.ranks == world, "--resume ", s.run_dir, ": the run was trained by ", s.progress.ranks,
               " rank", s.progress.ranks == 1 ? "" : "s", " and this job has ", world, "; resume it with the same count (",
               s.progress.ranks == 1 ? std::string("without mpirun") : str_cat("mpirun -np ", s.progress.ranks), ") so that "
               "its batches and its weights continue as they were");
    if (s.root()) truncate_metrics(s.files, s.progress.epochs_done);
  }
  s.progress.ranks = world;
  if (world > 1) {
    // Every rank starts from rank 0's weights and buffers (they agree already when initialised
    // from the same seed; this makes it a fact), then averages its gradients with the others'.
    std::vector<Tensor> state;
    for (auto& [name, t] : s.method->state_dict()) state.push_back(t);
    broadcast_tensors(*s.ranks, state);
    if (!s.sync_batchnorm)
      for (auto& [name, t] : s.method->named_buffers()) s.rank0_buffers.push_back(t);
    std::vector<Tensor> parameters;
    for (auto& [name, t] : s.method->trainable_parameters()) parameters.push_back(t);
    s.reducer = std::make_unique<GradientReducer>(*s.ranks, parameters, static_cast<int64_t>(bucket_mb * 1024 * 1024));
  }
  // With one process the synchronised kernels compute the same statistics as the fused ones
  // (to rounding): it makes a one-process run the exact reference of a data-parallel one.
  if (s.sync_batchnorm) set_batchnorm_communicator(s.ranks.get());
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& run_dir, TrainerOptions options,
                                         const std::optional<std::string>& device) {
  const RunFiles files{run_dir};
  require_run_directory(run_dir, "train --resume");
  XMKD_CHECK(fs::exists(files.last()), "--resume ", run_dir, ": ", files.last(),
             " does not exist (the run stopped before finishing its first epoch; start it again)");
  json document = io::read_json_file(files.config());
  if (device) document["train"]["device"] = *device;
  return std::unique_ptr<Trainer>(new Trainer(io::Config::from_json(std::move(document), files.config()), std::move(options), run_dir));
}

Trainer::~Trainer() = default;

TrainStatus Trainer::run() {
  if (state_->progress.epochs_done >= state_->epochs) {
    std::fprintf(stderr, "%s: all %lld epochs are done; evaluating the best checkpoints\n", state_->run_dir.c_str(),
                 static_cast<long long>(state_->epochs));
  }
  return state_->train();
}

json evaluate_run(const std::string& run_dir, const std::string& split, const std::string& device,
                  const MethodFactory& make_method) {
  XMKD_CHECK(split == "test" || split == "val", "eval: --split must be test or val, got '", split, "'");
  const RunFiles files{run_dir};
  require_run_directory(run_dir, "eval --run");
  json document = io::read_json_file(files.config());
  const RunInfo info = read_run_info(run_dir);
  io::Config config = io::Config::from_json(std::move(document), files.config());
  io::ConfigNode root = config.root();
  DataSetup data = setup_data(root.child("data"), info.normalization);
  for (size_t m = 0; m < info.modalities.size(); ++m)
    XMKD_CHECK(data.info.modalities[m].name == info.modalities[m].name, run_dir, "/dataset.json: modality ", m, " is '",
               info.modalities[m].name, "' but the data section now gives '", data.info.modalities[m].name, "'");
  io::ConfigNode train_node = root.child("train");
  data::LoaderOptions loader;
  loader.batch_size = train_node.get_int("eval_batch_size", train_node.get_int("batch_size", 32));
  loader.workers = static_cast<int>(train_node.get_int("workers", 2));
  loader.shuffle = false;
  loader.device = parse_device(device);
  loader.transform = data.eval_transform;
  data::DataLoader split_loader(split == "test" ? data.test : data.val, loader);

  manual_seed(static_cast<uint64_t>(root.get_int("seed", 0)));
  std::shared_ptr<models::Method> method =
      (make_method ? make_method : MethodFactory(models::make_method))(root.child("method"), info.context(loader.device));
  method->to(loader.device);
  const json evaluation = evaluate_best_checkpoints(*method, run_dir, split_loader, info, split);
  io::write_text_atomically(split == "test" ? files.eval() : run_dir + "/eval_val.json", evaluation.dump(2) + "\n");
  return evaluation;
}

const std::string& Trainer::run_dir() const { return state_->run_dir; }
int Trainer::rank() const { return state_->ranks->rank(); }
int Trainer::ranks() const { return state_->ranks->size(); }
models::Method& Trainer::method() { return *state_->method; }

}  // namespace xmkd::train
