// What a run directory records about its data, so that the programs that read a run later
// (eval, export, predict, a student loading its teacher) rebuild the same method without the
// dataset: RUN/dataset.json holds the task, the classes, the modalities with their channel
// counts and the per-channel normalisation the run trained with.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "data/depth_encoding.h"
#include "data/transforms.h"
#include "models/method.h"

namespace xmkd::train {

// The run directory layout: what the trainer writes and what eval, export, report and a
// distilled student's teacher loader read.
struct RunFiles {
  std::string dir;
  std::string config() const { return dir + "/config.json"; }            // the resolved config
  std::string metrics() const { return dir + "/metrics.jsonl"; }         // one JSON line per epoch
  std::string last() const { return dir + "/last.safetensors"; }        // method + optimizer + progress
  std::string best(const std::string& output) const { return dir + "/best/" + output + ".safetensors"; }
  std::string eval() const { return dir + "/eval.json"; }                // test-set results
};

// A trained method, frozen (eval mode, no gradients): built from RUN/config.json's "method"
// section for `context`, with the best checkpoint of `output` loaded into its checkpoint module.
// Errors name the run directory and the missing file or output. The MethodContext's
// load_teacher of every context the trainer makes (RunInfo::context).
std::shared_ptr<models::Method> load_trained_method(const std::string& run_dir, const std::string& output,
                                                    const models::MethodContext& context);

struct RunInfo {
  data::Task task = data::Task::Classification;
  int64_t num_classes = 0;
  std::vector<data::ModalitySpec> modalities;
  data::ChannelStats normalization;          // [modality][channel] mean and std
  std::vector<std::string> class_names;      // may be empty
  data::DepthEncoding depth_encoding;        // of the modality named "depth" (metric: none)
  int64_t modality_index(const std::string& name) const;   // -1 when absent
  models::MethodContext context(Device device) const;
};

// Throws "<command>: <dir> is not an xmkd run directory (no config.json)" unless dir holds a run.
void require_run_directory(const std::string& dir, const std::string& command);

void write_run_info(const std::string& run_dir, const RunInfo& info);   // atomic
// The metadata that lets `xmkd predict` run the network of modality m on its own: architecture and
// sizes, task, modality, channels, normalisation, depth encoding, class names.
std::map<std::string, std::string> deploy_metadata(const RunInfo& info, int64_t m, const models::DeploySpec& spec);
RunInfo read_run_info(const std::string& run_dir);                       // errors name the file and key

// The safetensors metadata keys of a checkpoint that `xmkd predict` can run on its own.
namespace meta {
constexpr const char* kArchitecture = "xmkd.architecture";   // DeploySpec::architecture
constexpr const char* kSizes = "xmkd.sizes";                 // DeploySpec::sizes as a JSON object
constexpr const char* kTask = "xmkd.task";                   // "classification" | "segmentation"
constexpr const char* kModality = "xmkd.modality";           // e.g. "depth"
constexpr const char* kChannels = "xmkd.channels";           // input channels, decimal
constexpr const char* kMean = "xmkd.normalize_mean";         // JSON array, one per channel
constexpr const char* kStd = "xmkd.normalize_std";           // JSON array
constexpr const char* kDepthEncoding = "xmkd.depth_encoding"; // JSON object (depth only; absent: metric)
constexpr const char* kClassNames = "xmkd.class_names";      // JSON array (may be absent)
constexpr const char* kOutput = "xmkd.output";               // the method output it came from
constexpr const char* kMethod = "xmkd.method";               // the method's name
constexpr const char* kEpoch = "xmkd.epoch";                 // 1-based epoch of the checkpoint
constexpr const char* kMetric = "xmkd.metric";               // e.g. "weighted_f1"
constexpr const char* kValue = "xmkd.value";                 // its validation value
}  // namespace meta

}  // namespace xmkd::train
