// The embedded synthetic multimodal benchmark: rendered scenes of objects on a floor before a
// wall, giving an RGB image, a metric depth map and a per-pixel label map, plus a scene-level
// class. Deterministic: sample i of seed s is the same on every machine.
//
// Class identity depends on both geometry (seen in depth) and appearance (seen in RGB), so each
// modality alone confuses some classes and the pair does not: see docs/data.md.
#pragma once
#include <memory>

#include "data/dataset.h"

namespace xmkd::data {

struct SyntheticOptions {
  Task task = Task::Classification;
  int64_t size = 64;          // images are size x size
  int64_t count = 2000;
  uint64_t seed = 0;
  int64_t rgb_samples = 1;    // RGB rays per pixel along each axis (anti-aliasing); depth uses one
};

// Generates samples on demand (in memory); modalities "rgb" (3 channels, [0, 1]) and "depth"
// (1 channel, metres; 0 = no reading).
std::shared_ptr<Dataset> synthetic_dataset(const SyntheticOptions& options);

// Writes the dataset to `dir`: rgb/NNNNNN.png (8-bit), depth/NNNNNN.png (16-bit, millimetres),
// labels/NNNNNN.png (8-bit label map), and manifest.json readable by open_manifest().
void write_synthetic(const SyntheticOptions& options, const std::string& dir);

}  // namespace xmkd::data
