#include "models/method_support.h"

#include <algorithm>

#include "engine/ops.h"

namespace xmkd::models {

int64_t modality_from_config(const io::ConfigNode& config, const std::string& key, const std::string& name,
                             const MethodContext& context) {
  for (size_t i = 0; i < context.modalities.size(); ++i) {
    if (context.modalities[i].name == name) return static_cast<int64_t>(i);
  }
  const std::string names = join_list(context.modalities, [](const data::ModalitySpec& m) { return m.name; });
  config.fail(key, "no modality '" + name + "' in this dataset (it has: " + names + ")");
}

std::vector<int64_t> modalities_from_config(const io::ConfigNode& config, const MethodContext& context,
                                            size_t at_least, const std::string& method) {
  std::vector<std::string> all;
  for (const data::ModalitySpec& m : context.modalities) all.push_back(m.name);
  std::vector<int64_t> indices;
  for (const std::string& name : config.get_strings("modalities", all)) {
    const int64_t index = modality_from_config(config, "modalities", name, context);
    if (std::find(indices.begin(), indices.end(), index) != indices.end())
      config.fail("modalities", "modality '" + name + "' is listed twice");
    indices.push_back(index);
  }
  if (indices.size() < at_least)
    config.fail("modalities", str_cat(method, " needs at least ", at_least, " modalit", at_least == 1 ? "y" : "ies",
                                      ", got ", indices.size()));
  return indices;
}

std::string output_names(const std::vector<MethodOutput>& outputs) {
  return join_list(outputs, [](const MethodOutput& o) { return o.name; });
}

const Tensor& task_labels(const data::Batch& batch, int64_t modality, data::Task task, const std::string& method) {
  bool segmentation = task == data::Task::Segmentation;
  const std::vector<Tensor>& labels = segmentation ? batch.label_maps : batch.labels;
  XMKD_CHECK(modality >= 0 && modality < static_cast<int64_t>(labels.size()) && labels[modality].defined(), method,
             ": the batch has no ", segmentation ? "label maps" : "class labels", " for modality ", modality,
             " (", labels.size(), " given)");
  return labels[modality];
}

Tensor task_loss(const Tensor& logits, const data::Batch& batch, int64_t modality, data::Task task,
                 const std::string& method) {
  CrossEntropyOptions options;
  if (task == data::Task::Segmentation) options.ignore_index = kIgnoreLabel;
  return cross_entropy(logits, task_labels(batch, modality, task, method), options);
}

}  // namespace xmkd::models
