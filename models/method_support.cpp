#include "models/method_support.h"

#include "engine/ops.h"

namespace xmkd::models {

int64_t modality_from_config(const io::ConfigNode& config, const std::string& key, const std::string& name,
                             const MethodContext& context) {
  std::string names;
  for (size_t i = 0; i < context.modalities.size(); ++i) {
    if (context.modalities[i].name == name) return static_cast<int64_t>(i);
    names += (names.empty() ? "" : ", ") + context.modalities[i].name;
  }
  config.fail(key, "no modality '" + name + "' in this dataset (it has: " + names + ")");
}

std::string output_names(const std::vector<MethodOutput>& outputs) {
  std::string names;
  for (const MethodOutput& o : outputs) names += (names.empty() ? "" : ", ") + o.name;
  return names;
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
  if (task == data::Task::Segmentation) options.ignore_index = 255;
  return cross_entropy(logits, task_labels(batch, modality, task, method), options);
}

}  // namespace xmkd::models
