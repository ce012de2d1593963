// Small pieces every method builder and loss needs: a modality named in the configuration,
// checked against the dataset, and the task loss of one output against a modality's labels.
#pragma once
#include <string>
#include <vector>

#include "models/method.h"

namespace xmkd::models {

// The dataset index of modality `name`, read from config key `key`; an unknown name is a
// config error naming the key and listing the dataset's modalities.
int64_t modality_from_config(const io::ConfigNode& config, const std::string& key, const std::string& name,
                             const MethodContext& context);

// The dataset indices of the modalities listed under config key "modalities" (default: every
// modality of the dataset), in the order listed. An unknown or repeated name, or fewer than
// `at_least`, is a config error naming the key; `method` names the method in the last one.
std::vector<int64_t> modalities_from_config(const io::ConfigNode& config, const MethodContext& context,
                                            size_t at_least, const std::string& method);

// The method's output names, comma separated (for errors about an unknown output).
std::string output_names(const std::vector<MethodOutput>& outputs);

// The labels `logits` are scored against: batch.labels[modality] (N) for classification,
// batch.label_maps[modality] (N,H,W) for segmentation. Errors name `method` when they are missing.
const Tensor& task_labels(const data::Batch& batch, int64_t modality, data::Task task, const std::string& method);

// CE over the batch (classification) or over the labelled pixels, 255 ignored (segmentation).
Tensor task_loss(const Tensor& logits, const data::Batch& batch, int64_t modality, data::Task task,
                 const std::string& method);

}  // namespace xmkd::models
