// The synthetic benchmark's scenes: the class design and the random scene sampler (private to
// data/synthetic*.cpp and their tests; users see data/synthetic.h).
//
// A scene class is (shape, colour family) of the main object: shape is geometry (depth sees it;
// RGB sees only its silhouette and weak shading, and twin shapes share a silhouette), colour
// family is appearance (RGB sees it; depth sees only the family's surface finishes, a weak cue:
// cool objects drop more readings and are noisier, on average). docs/data.md has the table.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace xmkd::data::synthetic {

// Twins share a silhouette: Box ~ Cylinder (upright prisms), Pyramid ~ Cone (tapered).
enum class Shape : int { Box = 0, Cylinder = 1, Pyramid = 2, Cone = 3 };
enum class Family : int { Warm = 0, Cool = 1 };   // hue ranges that never overlap
enum class Pattern : int { Plain, Stripes, Bands, Checker, Dots };

constexpr int kNumShapes = 4;
constexpr int kNumFamilies = 2;
constexpr int64_t kSceneClasses = kNumShapes * kNumFamilies;   // 8
// Label maps: 0 floor, 1 wall, then 2 + the class of the object covering the pixel.
constexpr int64_t kFloorLabel = 0;
constexpr int64_t kWallLabel = 1;
constexpr int64_t kPixelClasses = 2 + kSceneClasses;           // 10

inline int64_t class_of(Shape shape, Family family) {
  return static_cast<int64_t>(shape) * kNumFamilies + static_cast<int64_t>(family);
}
inline Shape shape_of(int64_t scene_class) { return static_cast<Shape>(scene_class / kNumFamilies); }
inline Family family_of(int64_t scene_class) { return static_cast<Family>(scene_class % kNumFamilies); }
inline Shape silhouette_twin(Shape shape) { return static_cast<Shape>(static_cast<int>(shape) ^ 1); }
inline int64_t pixel_label_of(int64_t scene_class) { return 2 + scene_class; }

const char* shape_name(Shape shape);
const char* family_name(Family family);
std::string class_name(int64_t scene_class);        // "warm box"
std::string pixel_class_name(int64_t pixel_class);  // "floor", "wall", "warm box", ...

// What each modality can tell apart robustly, by construction (docs/data.md, "Why both
// modalities"): depth separates two classes iff their shapes differ (it sees the colour family
// only weakly, through the finish); RGB separates them iff their colour families differ or their
// shapes are not silhouette twins.
bool depth_separates(int64_t a, int64_t b);
bool rgb_separates(int64_t a, int64_t b);

// What an object's surface finish does to the depth sensor on its pixels: factors on the scene's
// noise std and random drop probability. A finish that returns less near-infrared light (glossy,
// dark) gives noisier readings, and drops more of them: drop = noise^2. Cool finishes are glossier
// and darker in the near infrared than warm ones, but the ranges overlap (noise factor 0.8-1.4
// warm, 1.1-2.0 cool; on average 2x the drops and 1.4x the noise): even a perfect measurement of
// an object's finish tells its family only 83% of the time. `finish` in [0, 1) places the object
// within its family's range; the colour never enters, and RGB never sees the finish.
struct DepthFinish {
  float drop = 1.0f, noise = 1.0f;
};
inline DepthFinish depth_finish(Family family, float finish) {
  const float noise = family == Family::Cool ? 1.1f + 0.9f * finish : 0.8f + 0.6f * finish;
  return {noise * noise, noise};
}

struct Colour {
  float r = 0, g = 0, b = 0;
};

// A textured surface. The pattern alternates `base` and `second` with period `period` (metres)
// in the surface's texture coordinates, shifted by `phase` periods.
struct Material {
  Colour base, second;
  Pattern pattern = Pattern::Plain;
  float period = 1.0f;
  float phase_u = 0.0f, phase_v = 0.0f;
};

// An object standing on the floor (y = 0). Its footprint is centred on (x, z); half_width is the
// box / pyramid half side or the cylinder / cone radius. Objects' textures are solid textures in
// world (x - x_centre, y), extruded along z, so they do not follow (and reveal) the surface shape.
struct SceneObject {
  Shape shape = Shape::Box;
  Family family = Family::Warm;
  Material material;
  float x = 0, z = 0;
  float half_width = 0.25f, height = 0.7f;
  float yaw = 0;             // radians about the vertical axis
  float finish = 0.5f;       // in [0, 1): the surface finish within its family's (depth_finish)
  int64_t pixel_label() const { return pixel_label_of(class_of(shape, family)); }
};

// Pinhole camera at (0, height, 0) looking along +z, pitched down by `pitch`, rolled by `roll`.
struct Camera {
  float height = 1.1f, pitch = 0.25f, roll = 0.0f;
  float hfov = 1.0123f;      // 58 degrees, a Kinect-like field of view
};

struct Light {
  float dir[3] = {0, 1, 0};  // unit vector towards the light
  float ambient = 0.6f;      // shade = ambient + (1 - ambient) * max(0, n . dir)
  Colour colour{1, 1, 1};    // includes the exposure gain
};

struct Scene {
  int64_t scene_class = 0;
  Camera camera;
  float wall_distance = 4.0f;    // the wall plane passes through (0, 0, wall_distance)
  float wall_yaw = 0.0f;         // radians; 0 = facing the camera
  Material floor, wall;
  Light light;
  std::vector<SceneObject> objects;   // objects[0] is the main object: it gives the scene class
  float rgb_noise = 0.015f;           // std of the additive RGB noise
  float depth_noise_gain = 1.0f;      // scales the sensor's distance-dependent noise
  float hole_prob = 0.01f;            // dropped pixels anywhere
  float edge_hole_prob = 0.5f;        // dropped pixels beside an occluding edge
};

// Half the width of the object's silhouette seen along z: a(|cos yaw| + |sin yaw|) for boxes and
// pyramids, the radius for cylinders and cones.
float apparent_half_width(const SceneObject& object);
// The object with another shape and the same apparent half width (same footprint centre, height,
// yaw, material): how the sampler makes twins' silhouette widths identically distributed.
SceneObject with_shape(const SceneObject& object, Shape shape);

// Hash of (seed, index, stream) into a Generator seed: independent streams per sample and purpose.
uint64_t sample_seed(uint64_t seed, int64_t index, uint64_t stream);
enum Stream : uint64_t { kClassStream = 1, kSceneStream = 2, kRgbNoiseStream = 3, kDepthNoiseStream = 4 };

// Scene class of sample `index`: every block of kSceneClasses consecutive indices holds each
// class once, in an order drawn from (seed, block), so classes are balanced in any prefix.
int64_t scene_class_of(uint64_t seed, int64_t index);

// The scene of sample `index`, with its main object of class `scene_class`.
Scene sample_scene(uint64_t seed, int64_t index, int64_t scene_class);

}  // namespace xmkd::data::synthetic
