// `xmkd predict`: runs a file written by `xmkd export` on one image: the top classes
// (classification) or a colourised mask PNG and the share of each class (segmentation).
#include <cstdio>

#include "data/image_io.h"
#include "tools/train/export.h"
#include "tools/train/ui.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

struct PredictOptions {
  std::string model, input, out;
  int64_t top = 5;
};

void run(const PredictOptions& o) {
  train::DeployedModel model = train::load_deployed(o.model);
  if (model.task == data::Task::Segmentation) {
    XMKD_CHECK(!o.out.empty(), "predict: ", o.model, " is a segmentation model: give --out FILE.png for its mask");
  }
  const Tensor logits = train::predict_image(model, o.input);
  std::printf("%s (%s, %s) on %s:\n", o.model.c_str(), model.spec.architecture.c_str(), model.modality.c_str(),
              o.input.c_str());
  if (model.task == data::Task::Classification) {
    std::printf("%s", train::describe_top_classes(logits, model.class_names, o.top).c_str());
    return;
  }
  const Tensor mask = train::predicted_mask(logits);
  data::write_png8(o.out, train::colourise_labels(mask));
  std::printf("%s", train::describe_class_shares(mask, model.class_names).c_str());
  std::printf("mask written to %s\n", o.out.c_str());
}

}  // namespace

void register_predict(CLI::App& app) {
  static PredictOptions o;
  auto* cmd = app.add_subcommand("predict", "Run an exported model (xmkd export) on one image");
  cmd->add_option("--model", o.model, "a file written by xmkd export")->required();
  cmd->add_option("--input", o.input, "the image: 8-bit PNG/JPEG, or a 16-bit PNG of depth in millimetres")->required();
  cmd->add_option("--out", o.out, "segmentation: where to write the colourised mask PNG (required)");
  cmd->add_option("--top", o.top, "classification: how many classes to list")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([] { run(o); });
}

}  // namespace xmkd::cli
