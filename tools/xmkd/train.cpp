// `xmkd train`: trains a method from a JSON configuration into a run directory, or continues an
// interrupted run (tools/train/trainer.h describes the keys and the run directory).
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/config.h"
#include "tools/train/trainer.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

struct TrainOptions {
  std::string config, device, out, resume;
  std::vector<std::string> sets;
  double progress_seconds = train::ProgressBar::kPlainEverySeconds;
  int64_t stop_after_steps = 0;
};

constexpr int kInterruptedStatus = 130;   // 128 + SIGINT, as a shell reports a Ctrl-C

void run(const TrainOptions& o) {
  train::install_interrupt_handler();
  std::unique_ptr<train::Trainer> trainer;
  train::TrainerOptions options;
  options.progress_seconds = o.progress_seconds;
  options.stop_after_steps = o.stop_after_steps;
  if (!o.resume.empty()) {
    XMKD_CHECK(o.config.empty() && o.sets.empty() && o.out.empty(), "train --resume ", o.resume,
               ": a resumed run keeps its own configuration (", o.resume,
               "/config.json); --config, --set and --out cannot be combined with --resume (only --device)");
    trainer = train::Trainer::resume(o.resume, options, o.device.empty() ? std::nullopt : std::optional<std::string>(o.device));
  } else {
    XMKD_CHECK(!o.config.empty(), "train: give --config CFG.json (a new run) or --resume RUN_DIR");
    std::vector<std::string> overrides = o.sets;
    if (!o.device.empty()) overrides.push_back("train.device=" + o.device);
    if (!o.out.empty()) overrides.push_back("run.dir=" + nlohmann::json(o.out).dump());   // always a JSON string
    trainer = std::make_unique<train::Trainer>(io::Config::load(o.config, overrides), options);
  }
  if (trainer->rank() == 0)
    std::fprintf(stderr, "run directory: %s%s\n", trainer->run_dir().c_str(),
                 trainer->ranks() > 1 ? str_cat(" (", trainer->ranks(), " data-parallel ranks)").c_str() : "");
  if (trainer->run() == train::TrainStatus::Interrupted) exit_status() = kInterruptedStatus;
}

}  // namespace

void register_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand("train", "Train a method from a JSON configuration (or resume a run)");
  cmd->footer(
      "A run directory holds config.json (the resolved configuration), dataset.json, metrics.jsonl (one line per "
      "epoch), last.safetensors (to resume), best/<output>.safetensors, curves.png and eval.json (the test split, "
      "scored with each output's best validation checkpoint).\n"
      "Ctrl-C stops after the current step and saves last.safetensors; `xmkd train --resume RUN_DIR` continues "
      "exactly where it stopped (exit status 130 when interrupted).\n"
      "Examples:\n"
      "  xmkd train --config configs/synthetic/cls_student.json --set train.epochs=5 --set method.modality=depth\n"
      "  xmkd train --resume runs/cls_student-student-seed0");
  cmd->add_option("--config", o->config, "the JSON configuration of a new run")->check(CLI::ExistingFile);
  cmd->add_option("--set", o->sets,
                  "override a configuration key: dotted.key=value (value parsed as JSON when it is valid JSON, "
                  "else taken as a string); repeatable")
      ->take_all()
      ->allow_extra_args(false);
  cmd->add_option("--device", o->device, "cpu or cuda (replaces train.device)")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--out", o->out, "the run directory (replaces run.dir; default runs/<name>-<method>-seed<seed>)");
  cmd->add_option("--resume", o->resume, "continue the interrupted or unfinished run in this directory");
  cmd->add_option("--progress-seconds", o->progress_seconds,
                  "when stderr is not a terminal (a log file): a progress line every this many seconds, besides "
                  "the line that ends each epoch")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--stop-after-steps", o->stop_after_steps,
                  "stop after this many training steps as if interrupted (last.safetensors saved, exit status 130; "
                  "--resume continues): for a scheduler's time slice")
      ->check(CLI::PositiveNumber);
  cmd->callback([o] { run(*o); });
}

}  // namespace xmkd::cli
