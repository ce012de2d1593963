// A batch, per modality. When the modalities are paired (the default) every modality holds the
// same samples in the same order and the per-modality label tensors are the same tensor; with
// independent shuffling (DisCoM-KD) each modality draws its own samples and labels.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace xmkd::data {

struct Batch {
  std::vector<Tensor> inputs;        // per modality: (N, C_m, H, W) float32
  std::vector<Tensor> labels;        // per modality: (N) int64; empty when the dataset has none
  std::vector<Tensor> label_maps;    // per modality: (N, H, W) int64, 255 = ignore; empty if none
  std::vector<std::vector<int64_t>> indices;   // per modality: the dataset indices of the rows
  int64_t size() const { return inputs.empty() ? 0 : inputs[0].dim(0); }
};

}  // namespace xmkd::data
