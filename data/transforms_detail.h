// Helpers shared by the transform implementations (not part of the public API).
#pragma once
#include <cstdint>

#include "data/dataset.h"

namespace xmkd::data::detail {

// The image of `modality`, checked to be a float32 (C, H, W) tensor on the CPU; errors name the
// transform (e.g. "color_jitter") and say what the sample holds instead.
const Tensor& checked_image(const Sample& sample, int64_t modality, const char* transform);

}  // namespace xmkd::data::detail
