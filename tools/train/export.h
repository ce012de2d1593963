// `xmkd export` and `xmkd predict` as library functions on already-built objects, so the
// command-line files only parse options and build the method.
//
// An exported file is a safetensors state dict of one Deployable plus the metadata of
// tools/train/run_info.h meta:: (architecture, sizes, task, modality, channels, normalisation,
// class names, and where it came from): everything predict needs to run it alone.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/depth_encoding.h"
#include "models/methods.h"

namespace xmkd::train {

std::string default_export_path(const std::string& run_dir, const std::string& output);   // RUN/export/<output>.safetensors

// An exported file, rebuilt and loaded (eval mode, CPU), or a run's network about to be exported.
struct DeployedModel {
  std::string file;
  models::DeploySpec spec;
  data::Task task = data::Task::Classification;
  std::string modality;
  int64_t channels = 0;
  std::vector<float> mean, std;
  data::DepthEncoding depth_encoding;      // applied before normalisation (metric: none)
  std::vector<std::string> class_names;   // may be empty
  std::map<std::string, std::string> metadata;
  std::shared_ptr<models::Deployable> module;
};

// Loads RUN/best/<output>.safetensors into method.checkpoint_module(output) and returns the
// output's deployable module (eval mode, sharing the method's parameters) with the metadata an
// export carries; the modality's channels and normalisation come from RUN/dataset.json; `file`
// is the checkpoint. Errors: an unknown output (lists the outputs), an output without a
// deployable (lists those that have one), a missing checkpoint.
DeployedModel prepare_export(models::Method& method, const std::string& output, const std::string& run_dir);
// prepare_export, then the deployable's state and metadata written to `file` as safetensors
// (directories created).
void export_deployable(models::Method& method, const std::string& output, const std::string& run_dir,
                       const std::string& file);

// The fields of a DeployedModel read from an export's metadata (errors name `file` and the key);
// no module.
DeployedModel deployed_from_metadata(const std::string& file, const std::map<std::string, std::string>& metadata);

using DeployableFactory = std::function<std::shared_ptr<models::Deployable>(const models::DeploySpec&)>;
// Reads the metadata (errors name the file and the key), builds the module with `make` (by default
// the registry) and loads the weights strictly.
DeployedModel load_deployed(const std::string& file, const DeployableFactory& make = models::make_deployable);

// The image files predict runs on, in order: each argument a file, or a folder whose .png, .jpg
// and .jpeg files (case-insensitive, sorted by name, not recursive) are taken. Errors name a path
// that does not exist and a folder without images.
std::vector<std::string> collect_inputs(const std::vector<std::string>& paths);

// The image at `path` as the model's input, (1, C, H, W) float32 in data units as the dataset
// readers decode it: 8-bit -> [0, 1]; 16-bit -> metres (value / 1000) for the "depth" modality,
// [0, 1] otherwise. A depth model refuses an 8-bit image (it has no standard unit) unless
// depth_scale > 0 gives the metres of one stored level, which then applies to any bit depth.
// The file's channel count must be the model's (an extra alpha channel is dropped; a depth
// network with an encoding reads a one-channel depth map); the error names the file and both counts.
Tensor read_model_input(const DeployedModel& model, const std::string& path, float depth_scale = 0);
// The model's depth encoding of a (1, 1, H, W) depth map in metres (x itself when it has none).
Tensor encode_input(const DeployedModel& model, const Tensor& x);
// (x - mean[c]) / std[c] per channel with the model's training normalisation.
Tensor normalise_input(const DeployedModel& model, const Tensor& x);
// The model's logits for the image at `path` (read, encoded, normalised): (1, classes) or
// (1, classes, H, W), on the CPU.
Tensor predict_image(DeployedModel& model, const std::string& path, float depth_scale = 0);

// A class and a score: a softmax probability (classification) or a share of the pixels (segmentation).
struct ClassScore {
  int64_t index = 0;
  std::string name;   // the class name when known, else "class <index>"
  double score = 0;
};
// Classification: the top_k classes of (1, classes) logits with their softmax probabilities, best
// first (ties in class order).
std::vector<ClassScore> top_classes(const Tensor& logits, const std::vector<std::string>& class_names, int64_t top_k);
// Segmentation: the arg-max mask (H, W) int64 of (1, classes, H, W) logits.
Tensor predicted_mask(const Tensor& logits);
// The fraction of the mask's pixels each present class takes, largest first.
std::vector<ClassScore> class_shares(const Tensor& mask, const std::vector<std::string>& class_names);

}  // namespace xmkd::train
