// A multimodal dataset: N samples, each one image per modality (RGB, depth, ...) of the same scene,
// with a class label (classification) and/or a per-pixel label map (segmentation).
//
// Images are float32 (C_m, H, W) on the CPU in the dataset's own units (RGB in [0, 1], depth in
// metres, ...); normalisation is a transform. Label maps are int64 (H, W) with 255 = ignore.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace xmkd::data {

using xmkd::kIgnoreLabel;   // engine/ops.h: 255, the unlabelled pixel of a label map

enum class Task { Classification, Segmentation };
const char* task_name(Task task);
Task parse_task(const std::string& name);   // "classification" | "segmentation"

struct ModalitySpec {
  std::string name;       // "rgb", "depth", "sar", ...
  int64_t channels = 0;
};

struct Sample {
  std::vector<Tensor> images;       // one (C_m, H, W) float32 per modality
  int64_t label = -1;               // class label, -1 when the dataset has none
  // One (H, W) int64 label map per modality (undefined when the dataset has none). They are the
  // same tensor unless a decoupled transform gave a modality its own geometry.
  std::vector<Tensor> label_maps;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Thread-safe: the loader calls it from several workers at once. Errors name the file.
  virtual Sample get(int64_t index) const = 0;
  virtual const std::vector<ModalitySpec>& modalities() const = 0;
  virtual int64_t num_classes() const = 0;   // of the label (classification) or label map
  virtual Task task() const = 0;
  // Class label of every sample without decoding images (stratified splits); empty if none.
  virtual std::vector<int64_t> labels() const { return {}; }
  virtual std::string describe() const = 0;  // one line: kind, root, sizes
  int64_t modality_index(const std::string& name) const;   // error lists the modalities
};

// A view of some samples of another dataset, in the given order.
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Sample get(int64_t index) const override;
  const std::vector<ModalitySpec>& modalities() const override { return base_->modalities(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  Task task() const override { return base_->task(); }
  std::vector<int64_t> labels() const override;
  std::string describe() const override;
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

}  // namespace xmkd::data
