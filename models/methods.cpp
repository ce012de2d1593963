#include "models/methods.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "engine/autograd.h"
#include "engine/io/config.h"
#include "engine/io/safetensors.h"
#include "models/anyseg.h"
#include "models/baselines.h"
#include "models/crodino_kd.h"
#include "models/discom_branch.h"
#include "models/method_support.h"

namespace xmkd::models {

namespace {

using MethodBuilder = std::shared_ptr<Method> (*)(const io::ConfigNode&, const MethodContext&);
using DeployableBuilder = std::shared_ptr<Deployable> (*)(const DeploySpec&);

struct MethodEntry {
  std::string name;
  MethodBuilder build;   // reads the rest of the "method" section
  MethodDataNeeds needs;
};

// One line per method. DisCoM-KD pairs no samples across modalities (its losses are per branch
// and per batch), so each modality may draw its own order; CroDiNo-KD is trained under
// decoupled augmentation, each modality with its own geometry.
const std::vector<MethodEntry>& method_table() {
  static const std::vector<MethodEntry> table = {
      {"student", make_student, {}},
      {"teacher", make_teacher, {}},
      {"kd", make_kd_student, {}},
      {"discom_kd", make_discom_kd, {/*independent_modality_shuffle=*/true, /*decoupled_augmentation=*/false}},
      {"crodino_kd", make_crodino_kd, {/*independent_modality_shuffle=*/false, /*decoupled_augmentation=*/true}},
      {"anyseg_teacher", make_anyseg_teacher, {}},
      {"anyseg_student", make_anyseg_student, {}},
  };
  return table;
}

// One line per deployable architecture (a single-modality network `xmkd predict` can run).
const std::vector<std::pair<std::string, DeployableBuilder>>& deployable_table() {
  static const std::vector<std::pair<std::string, DeployableBuilder>> table = {
      {"resnet18_classifier", make_resnet18_classifier},
      {"segmenter", make_segmenter},
      {"discom_branch", make_discom_branch},
      {"crodino_branch", make_crodino_branch},
      {"anyseg_branch", make_anyseg_branch},
  };
  return table;
}

template <class Table>
std::string list_names(const Table& table) {
  return join_list(table, [](const auto& entry) { return entry.first; });
}

}  // namespace

int64_t MethodContext::modality_index(const std::string& name) const {
  for (size_t i = 0; i < modalities.size(); ++i) {
    if (modalities[i].name == name) return static_cast<int64_t>(i);
  }
  fail("no modality '", name, "' in this dataset (it has: ",
       join_list(modalities, [](const data::ModalitySpec& m) { return m.name; }), ")");
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const MethodEntry& entry : method_table()) names.push_back(entry.name);
  return names;
}

MethodDataNeeds method_data_needs(const std::string& name) {
  for (const MethodEntry& entry : method_table()) {
    if (entry.name == name) return entry.needs;
  }
  return {};
}

std::shared_ptr<Method> make_method(const io::ConfigNode& method_config, const MethodContext& context) {
  std::string name = method_config.get_choice("name", "student", method_names());
  for (const MethodEntry& entry : method_table()) {
    if (entry.name == name) return entry.build(method_config, context);
  }
  fail("unreachable: method ", name);
}

std::shared_ptr<Deployable> make_deployable(const DeploySpec& spec) {
  for (const auto& entry : deployable_table()) {
    if (entry.first == spec.architecture) return entry.second(spec);
  }
  fail("unknown deployable architecture '", spec.architecture, "' (known: ", list_names(deployable_table()), ")");
}

std::shared_ptr<Method> load_trained_method(const std::string& run_dir, const std::string& output,
                                            const MethodContext& context) {
  RunFiles files{run_dir};
  XMKD_CHECK(std::filesystem::is_directory(run_dir), "teacher run '", run_dir, "': not a directory");
  XMKD_CHECK(std::filesystem::exists(files.config()), "teacher run '", run_dir, "': ", files.config(),
             " does not exist (is it a finished xmkd run?)");
  io::Config config = io::Config::from_json(io::read_json_file(files.config()), files.config());
  std::shared_ptr<Method> method = make_method(config.root().child("method"), context);

  const std::vector<MethodOutput> outputs = method->outputs();
  const bool known = std::any_of(outputs.begin(), outputs.end(), [&](const MethodOutput& o) { return o.name == output; });
  XMKD_CHECK(known, "teacher run '", run_dir, "' (", method->name(), ") has no output '", output, "' (it has: ",
             output_names(outputs), ")");
  std::string checkpoint = files.best(output);
  XMKD_CHECK(std::filesystem::exists(checkpoint), "teacher run '", run_dir, "': ", checkpoint,
             " does not exist (the run has not finished a validated epoch)");
  method->checkpoint_module(output).load_state_dict(io::load_safetensors(checkpoint), /*strict=*/true, checkpoint);
  method->to(context.device);
  method->eval();
  return method;
}

}  // namespace xmkd::models
