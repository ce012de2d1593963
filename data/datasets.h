// Readers for the data formats users bring (docs/data.md, "Reading your data", describes each layout). Every reader
// validates what it can up front (files exist, sizes agree, labels in range) and names the file
// and what was expected when something is wrong.
#pragma once
#include <memory>
#include <string>

#include "data/dataset.h"

namespace xmkd::data {

// A manifest, JSON or CSV (by extension). JSON:
//   {"task": "classification"|"segmentation", "num_classes": K,
//    "modalities": [{"name": "rgb", "channels": 3, "scale": 0.00392157}, {"name": "depth", "channels": 1, "scale": 0.001}],
//    "samples": [{"rgb": "rgb/0.png", "depth": "depth/0.png", "label": 3, "label_map": "labels/0.png"}, ...]}
// CSV: a header row naming the modality columns and "label" / "label_map"; every other setting
// comes from the defaults (3-channel rgb, 1-channel others). Paths are relative to the manifest.
// `scale` converts stored integer values to the dataset's units (8-bit RGB -> [0, 1], mm -> m).
std::shared_ptr<Dataset> open_manifest(const std::string& path);

// NYU Depth v2 prepared layout: <root>/{train,test}/{rgb,depth,labels_13|labels_40}/NNNN.png and
// <root>/{train,test}.txt; labels trained as label-1 with 0 (void) -> 255.
std::shared_ptr<Dataset> open_nyudv2(const std::string& root, const std::string& split, int classes = 40);

// SUN RGB-D scene classification: a list file of "<path>.png <label>" lines; each PNG holds RGB in
// its left half and depth in its right half.
std::shared_ptr<Dataset> open_sunrgbd_list(const std::string& list_file);

// The DisCoM-KD npy layout: <dir>/<PREFIX>_data_normalized.npy (N,C,H,W) per modality, labels.npy,
// and {train,valid,test}_idx.npy. `split` = "train" | "valid" | "test" | "all".
std::shared_ptr<Dataset> open_discom_npy(const std::string& dir, const std::vector<std::string>& prefixes,
                                         const std::string& split);
// Writes any classification dataset in that layout (and the split indices given).
void write_discom_npy(const Dataset& dataset, const std::string& dir, const std::vector<std::string>& prefixes,
                      const std::vector<int64_t>& train, const std::vector<int64_t>& valid,
                      const std::vector<int64_t>& test);

// Fashion-MNIST idx files (Debian's dataset-fashion-mnist: /usr/share/fashion-mnist or a dir
// holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]). split = "train" | "test".
std::shared_ptr<Dataset> open_fashion_mnist(const std::string& dir, const std::string& split);

}  // namespace xmkd::data
