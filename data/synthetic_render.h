// The synthetic benchmark's renderer: one ray per pixel through a pinhole camera into the scene
// (floor, wall, objects), then the two sensor models. Private to data/synthetic*.cpp and tests.
#pragma once
#include <cstdint>

#include "data/synthetic_scene.h"

namespace xmkd::data::synthetic {

// Renders `scene` at size x size into caller-owned buffers:
//   rgb    (3, size, size)  Lambertian shading of textured surfaces, the mean of rgb_samples x
//                           rgb_samples rays spread over each pixel, + Gaussian-like noise, [0, 1],
//                           quantised to 8-bit levels (k / 255)
//   depth  (size, size)     metres along the optical axis, sensor noise growing with distance,
//                           holes (0) at random, beside occluding edges and at grazing angles,
//                           quantised to millimetres (k * 0.001)
//   labels (size, size)     kFloorLabel, kWallLabel or the object's pixel label; the clean
//                           geometry's, so holes keep their label
// The noise of each sensor comes from its own seed; depth never reads a colour, only each object's
// finish (depth_finish: cool finishes give more drops and noise, on average), so the same scene
// gives the same depth whatever its colours.
void render_scene(const Scene& scene, int64_t size, uint64_t rgb_noise_seed, uint64_t depth_noise_seed, float* rgb,
                  float* depth, int64_t* labels, int64_t rgb_samples = 1);

// Axial noise std (metres) of a structured-light sensor at distance z: 1.2 mm + 1.9 mm (z-0.4)^2
// (the usual Kinect fit), before the scene's depth_noise_gain.
inline float depth_noise_std(float z) { return 0.0012f + 0.0019f * (z - 0.4f) * (z - 0.4f); }

constexpr float kMaxRange = 6.0f;   // metres; farther readings are holes

}  // namespace xmkd::data::synthetic
