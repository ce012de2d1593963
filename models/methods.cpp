#include "models/methods.h"

#include <algorithm>
#include <utility>

#include "engine/autograd.h"
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

std::shared_ptr<Method> MethodContext::teacher(const std::string& run_dir, const std::string& output,
                                              const std::string& method) const {
  XMKD_CHECK(load_teacher, method, ": loading the teacher run '", run_dir,
             "' needs a teacher loader in the MethodContext (the trainer sets it)");
  return load_teacher(run_dir, output, *this);
}

std::shared_ptr<Deployable> make_deployable(const DeploySpec& spec) {
  for (const auto& entry : deployable_table()) {
    if (entry.first == spec.architecture) return entry.second(spec);
  }
  fail("unknown deployable architecture '", spec.architecture, "' (known: ", list_names(deployable_table()), ")");
}

}  // namespace xmkd::models
