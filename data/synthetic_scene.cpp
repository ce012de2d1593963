// The synthetic benchmark's class design and scene sampler. Every random choice is drawn from a
// Generator seeded by (seed, index), so a scene never depends on other samples or on threads.
//
// Geometry and appearance are drawn independently of each other: the shape never changes how
// colours are drawn and the colour family never changes the geometry, so depth learns the family
// only from the objects' surface finishes (depth_finish: a weak, statistical cue) and the twins'
// geometry distributions are identical.
#include <cmath>
#include <numeric>

#include "data/synthetic_scene.h"
#include "engine/error.h"
#include "engine/random.h"

namespace xmkd::data::synthetic {
namespace {

constexpr float kPi = 3.14159265358979f;
float radians(float degrees) { return degrees * (kPi / 180.0f); }

// hue in degrees (any real), saturation and value in [0, 1].
Colour hsv(float hue, float saturation, float value) {
  hue = std::fmod(hue, 360.0f);
  if (hue < 0) hue += 360.0f;
  const float c = value * saturation;
  const float h = hue / 60.0f;
  const float x = c * (1.0f - std::fabs(std::fmod(h, 2.0f) - 1.0f));
  float r = 0, g = 0, b = 0;
  switch (static_cast<int>(h)) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
  }
  const float m = value - c;
  return {r + m, g + m, b + m};
}

Colour scaled(Colour c, float k) { return {c.r * k, c.g * k, c.b * k}; }

// Object colours: warm = red to yellow, cool = cyan to blue; saturated enough that the family is
// never in doubt in RGB (floor and wall are nearly grey).
Material object_material(Generator& gen, Family family, float half_width) {
  Material m;
  const float hue = family == Family::Warm ? gen.uniform(-20.0f, 50.0f) : gen.uniform(165.0f, 250.0f);
  m.base = hsv(hue, gen.uniform(0.5f, 0.9f), gen.uniform(0.55f, 0.95f));
  m.second = scaled(m.base, gen.uniform(0.4f, 0.65f));   // same hue, darker
  m.pattern = static_cast<Pattern>(gen.randint(5));
  m.period = 2.0f * half_width * gen.uniform(0.3f, 0.5f);
  m.phase_u = gen.uniform();
  m.phase_v = gen.uniform();
  return m;
}

Material room_material(Generator& gen, float value_lo, float value_hi, const Pattern* patterns, int num_patterns,
                       float period_lo, float period_hi, float contrast_lo, float contrast_hi) {
  Material m;
  m.base = hsv(gen.uniform(0.0f, 360.0f), gen.uniform(0.0f, 0.18f), gen.uniform(value_lo, value_hi));
  m.second = scaled(m.base, gen.uniform(contrast_lo, contrast_hi));
  m.pattern = patterns[gen.randint(num_patterns)];
  m.period = gen.uniform(period_lo, period_hi);
  m.phase_u = gen.uniform();
  m.phase_v = gen.uniform();
  return m;
}

// Signed distance of floor point (x, z) from the wall plane, positive on the camera's side.
float wall_clearance(const Scene& scene, float x, float z) {
  return x * std::sin(scene.wall_yaw) - (z - scene.wall_distance) * std::cos(scene.wall_yaw);
}

bool is_round(Shape shape) { return shape == Shape::Cylinder || shape == Shape::Cone; }

// Radius of the circle around an object's footprint.
float footprint_radius(const SceneObject& o) { return is_round(o.shape) ? o.half_width : o.half_width * 1.4143f; }

// Geometry first (as a box: half side and yaw), then the shape, keeping the apparent width, so
// the silhouette widths of all shapes come from one distribution.
void set_shape(SceneObject& o, Shape shape, float box_half_width) {
  o.shape = Shape::Box;
  o.half_width = box_half_width;
  o = with_shape(o, shape);
}

}  // namespace

const char* shape_name(Shape shape) {
  switch (shape) {
    case Shape::Box: return "box";
    case Shape::Cylinder: return "cylinder";
    case Shape::Pyramid: return "pyramid";
    case Shape::Cone: return "cone";
  }
  return "?";
}

const char* family_name(Family family) { return family == Family::Warm ? "warm" : "cool"; }

std::string class_name(int64_t scene_class) {
  XMKD_CHECK(scene_class >= 0 && scene_class < kSceneClasses, "synthetic class_name: class ", scene_class,
             " is outside [0, ", kSceneClasses, ")");
  return std::string(family_name(family_of(scene_class))) + " " + shape_name(shape_of(scene_class));
}

std::string pixel_class_name(int64_t pixel_class) {
  if (pixel_class == kFloorLabel) return "floor";
  if (pixel_class == kWallLabel) return "wall";
  return class_name(pixel_class - 2);
}

float apparent_half_width(const SceneObject& o) {
  return is_round(o.shape) ? o.half_width : o.half_width * (std::fabs(std::cos(o.yaw)) + std::fabs(std::sin(o.yaw)));
}

SceneObject with_shape(const SceneObject& object, Shape shape) {
  SceneObject o = object;
  const float apparent = apparent_half_width(object);
  o.shape = shape;
  o.half_width = is_round(shape) ? apparent : apparent / (std::fabs(std::cos(o.yaw)) + std::fabs(std::sin(o.yaw)));
  return o;
}

bool depth_separates(int64_t a, int64_t b) { return shape_of(a) != shape_of(b); }

bool rgb_separates(int64_t a, int64_t b) {
  return family_of(a) != family_of(b) || (shape_of(a) != shape_of(b) && shape_of(a) != silhouette_twin(shape_of(b)));
}

uint64_t sample_seed(uint64_t seed, int64_t index, uint64_t stream) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(index)) ^ stream);
}

int64_t scene_class_of(uint64_t seed, int64_t index) {
  XMKD_CHECK(index >= 0, "synthetic scene_class_of: index must be >= 0, got ", index);
  Generator gen(sample_seed(seed, index / kSceneClasses, kClassStream));
  int64_t order[kSceneClasses];
  std::iota(order, order + kSceneClasses, int64_t{0});
  for (int64_t i = kSceneClasses - 1; i > 0; --i) std::swap(order[i], order[gen.randint(i + 1)]);
  return order[index % kSceneClasses];
}

Scene sample_scene(uint64_t seed, int64_t index, int64_t scene_class) {
  XMKD_CHECK(scene_class >= 0 && scene_class < kSceneClasses, "synthetic sample_scene: class ", scene_class,
             " is outside [0, ", kSceneClasses, ")");
  Generator gen(sample_seed(seed, index, kSceneStream));
  Scene scene;
  scene.scene_class = scene_class;

  scene.camera.height = gen.uniform(0.9f, 1.3f);
  scene.camera.pitch = radians(gen.uniform(16.0f, 24.0f));
  scene.camera.roll = radians(gen.uniform(-4.0f, 4.0f));
  scene.wall_distance = gen.uniform(3.6f, 4.6f);
  scene.wall_yaw = radians(gen.uniform(-15.0f, 15.0f));

  static const Pattern kFloorPatterns[] = {Pattern::Plain, Pattern::Checker, Pattern::Stripes};
  static const Pattern kWallPatterns[] = {Pattern::Plain, Pattern::Stripes, Pattern::Bands};
  scene.floor = room_material(gen, 0.35f, 0.7f, kFloorPatterns, 3, 0.25f, 0.6f, 0.75f, 0.9f);
  scene.wall = room_material(gen, 0.55f, 0.9f, kWallPatterns, 3, 0.15f, 0.5f, 0.85f, 0.95f);

  const float azimuth = gen.uniform(0.0f, 2.0f * kPi);
  const float elevation = radians(gen.uniform(25.0f, 75.0f));
  scene.light.dir[0] = std::cos(elevation) * std::sin(azimuth);
  scene.light.dir[1] = std::sin(elevation);
  scene.light.dir[2] = -std::cos(elevation) * std::cos(azimuth);
  scene.light.ambient = gen.uniform(0.45f, 0.8f);
  const float tint = gen.uniform(-0.05f, 0.05f), gain = gen.uniform(0.9f, 1.15f);
  scene.light.colour = {gain * (1 + tint), gain, gain * (1 - tint)};

  scene.rgb_noise = gen.uniform(0.008f, 0.025f);
  scene.depth_noise_gain = gen.uniform(0.8f, 1.5f);
  scene.hole_prob = gen.uniform(0.003f, 0.015f);
  scene.edge_hole_prob = gen.uniform(0.3f, 0.7f);

  // The main object: near the image centre and nearer and larger than any other object.
  const float tan_half_fov = std::tan(0.5f * scene.camera.hfov);
  SceneObject main;
  main.family = family_of(scene_class);
  const float main_box_half_width = gen.uniform(0.2f, 0.32f);
  main.height = gen.uniform(0.5f, 0.95f);
  main.z = gen.uniform(1.7f, 2.3f);
  main.x = gen.uniform(-0.3f, 0.3f) * main.z * tan_half_fov;
  main.yaw = gen.uniform(0.0f, 0.5f * kPi);
  set_shape(main, shape_of(scene_class), main_box_half_width);
  main.material = object_material(gen, main.family, apparent_half_width(main));
  scene.objects.push_back(main);

  // Distractors: 0-2 smaller objects of any class behind the main one, placed without overlap.
  const int64_t distractors = gen.randint(3);
  for (int64_t d = 0; d < distractors; ++d) {
    SceneObject o;
    const Shape shape = static_cast<Shape>(gen.randint(kNumShapes));
    o.family = static_cast<Family>(gen.randint(kNumFamilies));
    const float box_half_width = main_box_half_width * gen.uniform(0.55f, 0.85f);
    o.height = main.height * gen.uniform(0.5f, 0.8f);
    o.yaw = gen.uniform(0.0f, 0.5f * kPi);
    set_shape(o, shape, box_half_width);
    o.material = object_material(gen, o.family, apparent_half_width(o));
    for (int attempt = 0; attempt < 16; ++attempt) {
      o.z = gen.uniform(main.z + 0.45f, scene.wall_distance);
      o.x = gen.uniform(-0.75f, 0.75f) * o.z * tan_half_fov;
      bool fits = wall_clearance(scene, o.x, o.z) > footprint_radius(o) + 0.1f;
      for (const SceneObject& other : scene.objects) {
        const float dx = o.x - other.x, dz = o.z - other.z;
        fits = fits && std::sqrt(dx * dx + dz * dz) > footprint_radius(o) + footprint_radius(other) + 0.1f;
      }
      if (fits) {
        scene.objects.push_back(o);
        break;
      }
    }
  }
  // Drawn last, so that no other draw (and no RGB byte) depends on the finish.
  for (SceneObject& o : scene.objects) o.finish = gen.uniform();
  return scene;
}

}  // namespace xmkd::data::synthetic
