// `xmkd export`: one single-modality output of a finished run, written as a self-describing
// safetensors file that `xmkd predict` runs without the run directory or the dataset, or as an
// ONNX model (tools/train/onnx_export.h) that runs without xmkd. An already exported safetensors
// file (--model) can be converted to ONNX.
#include <cstdio>
#include <filesystem>

#include "engine/io/config.h"
#include "models/methods.h"
#include "tools/train/export.h"
#include "tools/train/onnx_export.h"
#include "tools/train/run_info.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

struct ExportOptions {
  std::string run, modality, model, out;
  std::string format = "safetensors";
  std::string device = "cpu";
};

void run(const ExportOptions& o) {
  const bool onnx = o.format == "onnx";
  if (!o.model.empty()) {
    XMKD_CHECK(onnx, "export --model converts an exported file to ONNX: give --format onnx (the file ", o.model,
               " is already the safetensors export)");
    const std::string out =
        o.out.empty() ? std::filesystem::path(o.model).replace_extension(".onnx").string() : o.out;
    train::write_onnx(train::load_deployed(o.model), out);
    std::printf("exported %s to %s\n", o.model.c_str(), out.c_str());
    return;
  }
  // A usage error (exit status 2), as CLI11 reports a missing required option.
  if (o.run.empty()) throw CLI::RequiredError("--run (or --model FILE.safetensors)");
  if (o.modality.empty()) throw CLI::RequiredError("--modality");
  train::require_run_directory(o.run, "export --run");
  const train::RunFiles files{o.run};
  io::Config config = io::Config::from_json(io::read_json_file(files.config()), files.config());
  const train::RunInfo info = train::read_run_info(o.run);
  std::shared_ptr<models::Method> method =
      models::make_method(config.root().child("method"), info.context(parse_device(o.device)));
  std::string out = o.out;
  if (onnx) {
    if (out.empty()) out = train::default_onnx_export_path(o.run, o.modality);
    train::write_onnx(train::prepare_export(*method, o.modality, o.run), out);
  } else {
    if (out.empty()) out = train::default_export_path(o.run, o.modality);
    train::export_deployable(*method, o.modality, o.run, out);
  }
  std::printf("exported output '%s' of %s (%s) to %s\n", o.modality.c_str(), o.run.c_str(), method->name().c_str(),
              out.c_str());
}

}  // namespace

void register_export(CLI::App& app) {
  static ExportOptions o;
  auto* cmd = app.add_subcommand("export", "Write a run's single-modality network, with what predict needs, to one file");
  auto* run_option = cmd->add_option("--run", o.run, "the run directory (config.json, dataset.json, best/)");
  auto* modality =
      cmd->add_option("--modality", o.modality, "the output to export, e.g. rgb or depth (its best checkpoint)");
  cmd->add_option("--model", o.model, "instead of --run: a file `xmkd export` wrote, converted to --format onnx")
      ->excludes(run_option)
      ->excludes(modality);
  cmd->add_option("--format", o.format, "safetensors (for xmkd predict) or onnx (for other runtimes)")
      ->check(CLI::IsMember({"safetensors", "onnx"}))
      ->capture_default_str();
  cmd->add_option("--out", o.out,
                  "the file to write (default RUN/export/<modality>.safetensors or .onnx; with --model, FILE.onnx)");
  cmd->add_option("--device", o.device, "where to build the method: cpu or cuda")->capture_default_str();
  cmd->callback([] { run(o); });
}

}  // namespace xmkd::cli
