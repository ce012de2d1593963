// `xmkd eval`: scores each output's best checkpoint of a finished run on its test (or
// validation) split, as the end of `xmkd train` does.
#include <memory>
#include <string>

#include "tools/train/evaluate.h"
#include "tools/train/trainer.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

struct EvalOptions {
  std::string run, split = "test", device = "cpu";
};

}  // namespace

void register_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "Evaluate the best checkpoints of a training run");
  cmd->footer("Rebuilds the method from RUN_DIR/config.json and dataset.json, loads best/<output>.safetensors for "
              "every output, prints the metrics (x100) and writes RUN_DIR/eval.json (test) or eval_val.json (val).");
  cmd->add_option("--run", o->run, "the run directory written by xmkd train")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--split", o->split, "test or val")->check(CLI::IsMember({"test", "val"}))->capture_default_str();
  cmd->add_option("--device", o->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->callback([o] { train::print_evaluation(train::evaluate_run(o->run, o->split, o->device)); });
}

}  // namespace xmkd::cli
