// The data of a run, from the configuration's "data" and "augment" sections: the dataset, its
// train/validation/test splits, the per-channel normalisation and the transforms.
//
// "data" keys (every format):
//   format        synthetic | manifest | nyudv2 | sunrgbd | discom_npy | fashion_mnist
//   modalities    optional: a subset of the dataset's modalities, in the order given
//   normalize     optional: {"<modality>": {"mean": [..], "std": [..]}} for every modality;
//                 otherwise per-channel statistics of the training split
//   split_seed    seed of every split this section draws (default 0)
//   depth_encoding  metric (default) | relief | normals: how the modality named "depth" is
//                 presented (data/depth_encoding.h), after augmentation, before normalisation
//   depth_options optional: {window, clip, holes: fill|mark} (relief), {window, hfov_deg} (normals)
// Per format:
//   synthetic     task (classification|segmentation), size, count, seed; split stratified
//                 (classification) or random (segmentation) by split_fractions [train, val, test]
//   manifest      path; split like synthetic
//   nyudv2        root, labels (13|40); its train/test lists; val_fraction of train is validation
//   sunrgbd       list (one list file, split like synthetic) or train_list + test_list
//                 (val_fraction of train is validation)
//   discom_npy    dir, prefixes; the directory's train/valid/test index files
//   fashion_mnist dir; its train/test files; val_fraction of train is validation
//
// "augment" keys (training split only): hflip, vflip, rot90 (probabilities), scale_min,
// scale_max, decoupled (default true for crodino_kd), color_jitter {brightness, contrast,
// saturation} (applied to "rgb"), depth_noise {noise_std, drop_prob} (applied to "depth");
// the depth encoding and normalisation come last.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "engine/io/config.h"
#include "models/methods.h"
#include "tools/train/run_info.h"

namespace xmkd::train {

struct DataSetup {
  std::shared_ptr<const data::Dataset> train, val, test;
  RunInfo info;                                   // task, classes, modalities, normalisation
  std::shared_ptr<data::Transform> train_transform;   // augmentation, then normalisation
  std::shared_ptr<data::Transform> eval_transform;    // depth encoding and normalisation only
  int64_t depth_modality = -1;                        // the modality info.depth_encoding applies to, or -1
};

// The "data" section's datasets and normalisation. `normalization` (a run's dataset.json) replaces
// both data.normalize and the statistics of the training split.
DataSetup setup_data(const io::ConfigNode& data, const std::optional<data::ChannelStats>& normalization = std::nullopt);

// The "augment" section's training transform (composed before normalisation into
// setup.train_transform). The method's needs choose the default of `decoupled`.
void setup_augmentation(const io::ConfigNode& augment, const models::MethodDataNeeds& needs, DataSetup& setup);

// The format names setup_data accepts.
std::vector<std::string> data_formats();

}  // namespace xmkd::train
