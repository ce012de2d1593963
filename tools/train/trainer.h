// The training engine behind `xmkd train`: the same loop for every method.
//
// Configuration (besides "data" and "augment", see data_setup.h; "method" goes to the method):
//   name            the run's name (default: the config file's stem)
//   seed            initialisation, loader order, augmentation and per-step randomness (default 0)
//   run.dir         the run directory (default runs/<name>-<method>-seed<seed>; --out replaces it)
//   train.epochs, train.batch_size, train.eval_batch_size (default batch_size), train.workers,
//   train.device (cpu|cuda), train.eval_every (epochs; the last epoch is always evaluated),
//   train.distributed (none|mpi|nccl: data-parallel ranks, tools/train/distributed.h; batch_size
//                    is then per rank), train.sync_batchnorm (false), train.bucket_mb (25: the
//                    gradient all-reduce's bucket size),
//   train.independent_shuffle (default true for discom_kd),
//   train.optimizer {name: adam|adamw|sgd, lr, weight_decay, betas [b1, b2], eps, momentum,
//                    dampening, nesterov}
//   train.schedule  {name: constant|cosine|step|poly, unit: epoch|step, warmup_epochs,
//                    warmup_start_factor, eta_min (cosine), step_size (epochs) and gamma (step),
//                    power (poly)}. With unit "epoch" (the default) the learning rate changes at
//                    the start of each epoch; with "step" before every optimizer step, the
//                    schedule then counting optimizer steps (warm-up and step_size still given in
//                    epochs).
//
// A run directory RUN holds config.json (the resolved configuration), dataset.json (run_info.h),
// metrics.jsonl (one line per epoch), last.safetensors (written atomically at the end of every
// epoch and on interruption: "method."-prefixed method state, "optimizer."-prefixed optimizer
// state, metadata "xmkd.progress"), best/<output>.safetensors (each output's best validation
// checkpoint), curves.png, eval.json and, for segmentation, predictions.png.
//
// Resuming (Trainer::resume) reads RUN/config.json and nothing else: a resumed run is the run
// that was started, continued from the last checkpoint, mid-epoch if it was interrupted there.
// Only the device may change. On the CPU a resumed run ends bit-identical to an uninterrupted one.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/io/config.h"
#include "models/method.h"
#include "tools/train/ui.h"

namespace xmkd::train {

using MethodFactory =
    std::function<std::shared_ptr<models::Method>(const io::ConfigNode& method_config, const models::MethodContext&)>;

struct TrainerOptions {
  // Builds the method from the "method" section (default: models::make_method). Tests pass their
  // own small methods here.
  MethodFactory make_method;
  // Polled after every step: when it is set, the trainer saves last.safetensors (with the step
  // reached within the epoch) and returns Interrupted. Default: interrupt_flag() (SIGINT).
  std::atomic<bool>* interrupt = nullptr;
  bool print_evaluation = true;   // the final test table on stdout
  // Off a terminal, a progress line every this many seconds (and one per epoch).
  double progress_seconds = ProgressBar::kPlainEverySeconds;
  // > 0: after this many training steps of this session the trainer stops as if interrupted
  // (saves last.safetensors, returns Interrupted): a job scheduler's time slice, and the tests'
  // deterministic interruption.
  int64_t stop_after_steps = 0;
};

enum class TrainStatus { Finished, Interrupted };

class Trainer {
 public:
  // A new run. Reads and validates the whole configuration (an unused key is an error) before
  // anything is written; the run directory must not already hold a run.
  Trainer(io::Config config, TrainerOptions options = {});
  // Continues the run in run_dir from its last.safetensors. `device` replaces train.device.
  static std::unique_ptr<Trainer> resume(const std::string& run_dir, TrainerOptions options = {},
                                         const std::optional<std::string>& device = std::nullopt);
  ~Trainer();

  // Trains the remaining epochs, then evaluates each output's best checkpoint on the test split.
  TrainStatus run();
  const std::string& run_dir() const;
  models::Method& method();
  int rank() const;    // this process's data-parallel rank (0 for one process)
  int ranks() const;   // the job's rank count (1 for one process)

  struct State;

 private:
  Trainer(io::Config config, TrainerOptions options, const std::string& resume_dir);
  std::unique_ptr<State> state_;
};

// `xmkd eval`: rebuilds the method of run_dir from its config.json and dataset.json, scores each
// output's best checkpoint on `split` ("test" or "val"), and writes RUN/eval.json (test) or
// RUN/eval_val.json (val). make_method null: models::make_method.
nlohmann::json evaluate_run(const std::string& run_dir, const std::string& split, const std::string& device,
                            const MethodFactory& make_method = nullptr);

// Set by the SIGINT handler; install_interrupt_handler() clears it and installs the handler
// (a second Ctrl-C ends the process at once).
std::atomic<bool>& interrupt_flag();
void install_interrupt_handler();

}  // namespace xmkd::train
