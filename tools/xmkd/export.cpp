// `xmkd export`: one single-modality output of a finished run, written as a self-describing
// safetensors file that `xmkd predict` runs without the run directory or the dataset.
#include <cstdio>

#include "engine/io/config.h"
#include "models/methods.h"
#include "tools/train/export.h"
#include "tools/train/run_info.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

struct ExportOptions {
  std::string run, modality, out;
  std::string device = "cpu";
};

void run(const ExportOptions& o) {
  train::require_run_directory(o.run, "export --run");
  const train::RunFiles files{o.run};
  io::Config config = io::Config::from_json(io::read_json_file(files.config()), files.config());
  const train::RunInfo info = train::read_run_info(o.run);
  std::shared_ptr<models::Method> method =
      models::make_method(config.root().child("method"), info.context(parse_device(o.device)));
  const std::string out = o.out.empty() ? train::default_export_path(o.run, o.modality) : o.out;
  train::export_deployable(*method, o.modality, o.run, out);
  std::printf("exported output '%s' of %s (%s) to %s\n", o.modality.c_str(), o.run.c_str(), method->name().c_str(),
              out.c_str());
}

}  // namespace

void register_export(CLI::App& app) {
  static ExportOptions o;
  auto* cmd = app.add_subcommand("export", "Write a run's single-modality network, with what predict needs, to one file");
  cmd->add_option("--run", o.run, "the run directory (config.json, dataset.json, best/)")->required();
  cmd->add_option("--modality", o.modality, "the output to export, e.g. rgb or depth (its best checkpoint)")->required();
  cmd->add_option("--out", o.out, "the file to write (default RUN/export/<modality>.safetensors)");
  cmd->add_option("--device", o.device, "where to build the method: cpu or cuda")->capture_default_str();
  cmd->callback([] { run(o); });
}

}  // namespace xmkd::cli
