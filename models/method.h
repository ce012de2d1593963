// A training method: the modules it trains, the loss of one batch, and what it predicts.
//
// The trainer (tools/train/) is the same for every method: it asks the method for the loss of a
// batch, backpropagates, steps the optimizer over the method's parameters, and evaluates each of
// the method's outputs on the validation set. An output is one prediction the method can make:
// a single modality ("rgb", "depth"), the fused multimodal prediction of a teacher ("fused"), or a
// modality subset of AnySeg ("rgb+depth"). Each output gets its own validation metric and its own
// best checkpoint, which holds the state of the output's deployable module.
//
// A method is a Module: its state_dict is everything a resume needs besides the optimizer. A
// frozen teacher is NOT a registered child (it is loaded from its own run and never saved).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/dataset.h"
#include "engine/io/config.h"
#include "engine/nn/module.h"
#include "losses/loss_terms.h"
#include "models/graph.h"

namespace xmkd::models {

// What a method is built for: the dataset's modalities (in the dataset's order, which is the
// order of Batch::inputs), its task and number of classes, and the device.
class Method;
struct MethodContext;
// Loads output `output` of the trained run in `run_dir`, frozen (eval mode) on context.device: how
// a distilled student gets its teacher. The trainer provides it (tools/train/run_info.h,
// load_trained_method): the models know no run-directory layout.
using TeacherLoader = std::function<std::shared_ptr<Method>(const std::string& run_dir, const std::string& output,
                                                            const MethodContext& context)>;

struct MethodContext {
  std::vector<data::ModalitySpec> modalities;
  data::Task task = data::Task::Classification;
  int64_t num_classes = 0;
  Device device = Device::CPU;
  TeacherLoader load_teacher;   // unset: a method that needs a teacher says so
  int64_t modality_index(const std::string& name) const;   // error lists the modalities
  // load_teacher(run_dir, output, *this); an error naming `method` when there is no loader.
  std::shared_ptr<Method> teacher(const std::string& run_dir, const std::string& output,
                                  const std::string& method) const;
};

struct MethodOutput {
  std::string name;          // "rgb", "depth", "fused", "rgb+depth", ...
  int64_t label_modality;    // which Batch::labels / label_maps entry the output is scored against
  // The input modalities the deployable module of this output reads, in order: one for a
  // single-modality network (exportable with `xmkd export`), several for a fused teacher.
  std::vector<int64_t> input_modalities;
};

// The description of a deployable module, stored as safetensors metadata next to its weights
// so that `xmkd predict` can rebuild it: the architecture and its integer hyperparameters.
struct DeploySpec {
  std::string architecture;                  // e.g. "resnet18_classifier", "discom_branch", "segmenter"
  std::map<std::string, int64_t> sizes;     // e.g. in_channels, num_classes, feature_dim
};

// A module that maps one modality's (normalised) image batch to logits: (N,C,H,W) -> (N,classes)
// or (N,classes,H,W). What `xmkd export` writes and `xmkd predict` runs.
class Deployable : public Module {
 public:
  virtual DeploySpec spec() const = 0;
  // The eval-mode forward() told to `g` as a graph on input x; returns the logits. A network
  // that cannot be told (by default) says so: `xmkd export --format onnx` then refuses it.
  virtual GraphValue describe(GraphBuilder& g, GraphValue x) {
    (void)g, (void)x;
    fail("architecture '", spec().architecture, "' cannot be described as a graph (no ONNX export for it)");
  }
};

class Method : public Module {
 public:
  virtual std::string name() const = 0;
  virtual std::vector<MethodOutput> outputs() const = 0;
  // The training loss of one batch (the method is in train mode; the batch is on the device).
  virtual LossTerms training_loss(const data::Batch& batch, const TrainProgress& progress) = 0;
  // Logits of every output, in the order of outputs() (the trainer sets eval mode and no-grad).
  virtual std::vector<Tensor> predict(const data::Batch& batch) = 0;
  // The module whose state is the output's checkpoint. For a single-modality output it is a
  // Deployable sharing its parameters with the method; for a multimodal output (a fused teacher,
  // an AnySeg subset) it may be the method itself (then `deployable` returns null).
  virtual Module& checkpoint_module(const std::string& output) = 0;
  virtual std::shared_ptr<Deployable> deployable(const std::string& output) { (void)output; return nullptr; }
  // Parameters the optimizer updates (by default all of the method's).
  virtual NamedTensors trainable_parameters() const { return named_parameters(); }
};

}  // namespace xmkd::models
