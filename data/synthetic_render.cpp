// The synthetic benchmark's ray caster. World frame: x right, y up (floor at y = 0), z away from
// the camera. A ray's direction d has d . forward = 1, so its parameter t at a hit IS the depth
// along the optical axis. Objects are intersected in their own frame (footprint centred at the
// origin, turned by yaw): boxes and pyramids as convex polyhedra (clipping against their face
// planes), cylinders and cones as a quadric clipped to the slab 0 <= y <= height.
#include "data/synthetic_render.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/random.h"

namespace xmkd::data::synthetic {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Vec3 {
  float x = 0, y = 0, z = 0;
};
Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
Vec3 operator*(float k, Vec3 a) { return {k * a.x, k * a.y, k * a.z}; }
float dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
Vec3 normalized(Vec3 a) { return (1.0f / std::sqrt(dot(a, a))) * a; }

// An interval of ray parameters and the outward normal of the surface where it begins.
struct Span {
  float t0 = -kInf, t1 = kInf;
  Vec3 normal;
  bool empty() const { return t0 > t1; }
};
Span intersect(const Span& a, const Span& b) {
  Span s = a.t0 >= b.t0 ? a : b;   // the later entry sets the entry normal
  s.t1 = std::min(a.t1, b.t1);
  return s;
}

// The slab lo <= y <= hi along the ray o + t d, entered through its bottom or top plane.
Span slab_y(Vec3 o, Vec3 d, float lo, float hi) {
  Span s;
  if (std::fabs(d.y) < 1e-12f) {
    if (o.y < lo || o.y > hi) s.t0 = kInf, s.t1 = -kInf;
    return s;
  }
  const float a = (lo - o.y) / d.y, b = (hi - o.y) / d.y;
  s.t0 = std::min(a, b);
  s.t1 = std::max(a, b);
  s.normal = d.y < 0 ? Vec3{0, 1, 0} : Vec3{0, -1, 0};
  return s;
}

// A half-space n . p <= e (n need not be unit length).
struct Plane {
  Vec3 n;
  float e = 0;
};

// The convex polyhedron given as the intersection of half-spaces.
Span clip_convex(const Plane* planes, int count, Vec3 o, Vec3 d) {
  Span s;
  for (int i = 0; i < count; ++i) {
    const float denom = dot(planes[i].n, d), num = planes[i].e - dot(planes[i].n, o);
    if (std::fabs(denom) < 1e-12f) {
      if (num < 0) return Span{kInf, -kInf, {}};
      continue;
    }
    const float t = num / denom;
    if (denom < 0) {
      if (t > s.t0) s.t0 = t, s.normal = planes[i].n;
    } else {
      s.t1 = std::min(s.t1, t);
    }
    if (s.empty()) return s;
  }
  return s;
}

// Roots of a t^2 + b t + c = 0 where the quadric f = a t^2 + b t + c is <= 0 (inside): up to two
// spans; count = 0 when the ray never enters.
int quadric_inside(float a, float b, float c, Span spans[2]) {
  if (std::fabs(a) < 1e-12f) {
    if (std::fabs(b) < 1e-12f) {
      if (c > 0) return 0;
      spans[0] = Span{};
      return 1;
    }
    const float t = -c / b;
    spans[0] = b > 0 ? Span{-kInf, t, {}} : Span{t, kInf, {}};
    return 1;
  }
  const float disc = b * b - 4 * a * c;
  if (disc < 0) {
    if (a > 0) return 0;
    spans[0] = Span{};   // f < 0 everywhere
    return 1;
  }
  const float root = std::sqrt(disc);
  float r0 = (-b - root) / (2 * a), r1 = (-b + root) / (2 * a);
  if (r0 > r1) std::swap(r0, r1);
  if (a > 0) {
    spans[0] = Span{r0, r1, {}};
    return 1;
  }
  spans[0] = Span{-kInf, r0, {}};
  spans[1] = Span{r1, kInf, {}};
  return 2;
}

// One object, prepared for intersection: its frame, bounding sphere and face planes.
struct PreparedObject {
  const SceneObject* object = nullptr;
  float cos_yaw = 1, sin_yaw = 0;
  Vec3 sphere_centre;
  float sphere_radius2 = 0;
  Plane planes[6];
  int num_planes = 0;

  Vec3 to_local(Vec3 v) const { return {cos_yaw * v.x - sin_yaw * v.z, v.y, sin_yaw * v.x + cos_yaw * v.z}; }
  Vec3 to_world(Vec3 v) const { return {cos_yaw * v.x + sin_yaw * v.z, v.y, -sin_yaw * v.x + cos_yaw * v.z}; }
};

PreparedObject prepare(const SceneObject& o) {
  PreparedObject p;
  p.object = &o;
  p.cos_yaw = std::cos(o.yaw);
  p.sin_yaw = std::sin(o.yaw);
  const float a = o.half_width, h = o.height;
  p.sphere_centre = {o.x, 0.5f * h, o.z};
  p.sphere_radius2 = 2 * a * a + 0.25f * h * h;
  if (o.shape == Shape::Box) {
    p.num_planes = 6;
    p.planes[0] = {{1, 0, 0}, a};
    p.planes[1] = {{-1, 0, 0}, a};
    p.planes[2] = {{0, 0, 1}, a};
    p.planes[3] = {{0, 0, -1}, a};
    p.planes[4] = {{0, 1, 0}, h};
    p.planes[5] = {{0, -1, 0}, 0};
  } else if (o.shape == Shape::Pyramid) {
    // Side x <= a (1 - y/h)  <=>  x + (a/h) y <= a, and likewise for -x, +z, -z.
    const float s = a / h;
    p.num_planes = 5;
    p.planes[0] = {{1, s, 0}, a};
    p.planes[1] = {{-1, s, 0}, a};
    p.planes[2] = {{0, s, 1}, a};
    p.planes[3] = {{0, s, -1}, a};
    p.planes[4] = {{0, -1, 0}, 0};
  }
  return p;
}

// Entry span of the ray (origin o, direction d, both local) into a cylinder or a cone.
Span intersect_round(const SceneObject& o, Vec3 ro, Vec3 rd) {
  const float r = o.half_width, h = o.height;
  const Span slab = slab_y(ro, rd, 0.0f, h);
  if (slab.empty()) return slab;
  Span spans[2];
  int count;
  if (o.shape == Shape::Cylinder) {
    // x^2 + z^2 - r^2 <= 0
    count = quadric_inside(rd.x * rd.x + rd.z * rd.z, 2 * (ro.x * rd.x + ro.z * rd.z),
                           ro.x * ro.x + ro.z * ro.z - r * r, spans);
  } else {
    // Cone, apex at height h: x^2 + z^2 - k^2 (h - y)^2 <= 0 with k = r / h; the slab removes the
    // upper nappe, so what is left is the (convex) cone: at most one span survives.
    const float k2 = (r / h) * (r / h), w0 = h - ro.y;
    count = quadric_inside(rd.x * rd.x + rd.z * rd.z - k2 * rd.y * rd.y, 2 * (ro.x * rd.x + ro.z * rd.z + k2 * w0 * rd.y),
                           ro.x * ro.x + ro.z * ro.z - k2 * w0 * w0, spans);
  }
  for (int i = 0; i < count; ++i) {
    Span s = intersect(spans[i], slab);
    if (s.empty()) continue;
    if (spans[i].t0 >= slab.t0) {   // entered through the curved side: the normal is the gradient
      const Vec3 p = ro + s.t0 * rd;
      s.normal = o.shape == Shape::Cylinder ? Vec3{p.x, 0, p.z} : Vec3{p.x, (r / h) * (r / h) * (h - p.y), p.z};
    }
    return s;
  }
  return Span{kInf, -kInf, {}};
}

// Nearest entry t > 0 into the object, or kInf; sets the world-space outward normal.
float intersect_object(const PreparedObject& p, Vec3 origin, Vec3 d, Vec3* normal) {
  const Vec3 oc = origin - p.sphere_centre;
  const float b = dot(oc, d), c = dot(oc, oc) - p.sphere_radius2;
  if (b * b - dot(d, d) * c < 0) return kInf;
  const SceneObject& o = *p.object;
  const Vec3 ro = p.to_local(origin - Vec3{o.x, 0, o.z}), rd = p.to_local(d);
  const Span s = p.num_planes > 0 ? clip_convex(p.planes, p.num_planes, ro, rd) : intersect_round(o, ro, rd);
  if (s.empty() || s.t0 <= 0 || s.t0 == kInf) return kInf;
  *normal = p.to_world(s.normal);
  return s.t0;
}

float fract(float x) { return x - std::floor(x); }

// Fraction of the `second` colour at texture coordinates (u, v) in metres, with the pattern's
// contrast faded out as the pixel footprint (metres) approaches the period: a one-ray-per-pixel
// renderer would otherwise alias fine patterns into moire.
float pattern_weight(const Material& m, float u, float v, float footprint) {
  const float pu = u / m.period + m.phase_u, pv = v / m.period + m.phase_v;
  float hard, mean;
  switch (m.pattern) {
    case Pattern::Plain: return 0.0f;
    case Pattern::Stripes: hard = fract(pu) < 0.5f, mean = 0.5f; break;
    case Pattern::Bands: hard = fract(pv) < 0.5f, mean = 0.5f; break;
    case Pattern::Checker:
      hard = (static_cast<int64_t>(std::floor(pu)) + static_cast<int64_t>(std::floor(pv))) & 1, mean = 0.5f;
      break;
    case Pattern::Dots: {
      const float du = fract(pu) - 0.5f, dv = fract(pv) - 0.5f;
      hard = du * du + dv * dv < 0.09f, mean = 0.2827f;   // dots of radius 0.3 periods
      break;
    }
    default: return 0.0f;
  }
  const float w = std::clamp(1.5f - 2.0f * footprint / m.period, 0.0f, 1.0f);
  return w * hard + (1 - w) * mean;
}

// Sum of four 16-bit uniforms, centred and scaled to unit variance (Irwin-Hall): a Gaussian-like
// draw from one 64-bit number, bounded at +-3.46, with no transcendental functions, so it is the
// same on every machine and cheap enough for every pixel.
float noise(Generator& gen) {
  const uint64_t r = gen.next_u64();
  const float sum = static_cast<float>((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48));
  return ((sum + 2.0f) * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

constexpr int kNoSurface = -1, kFloor = 0, kWall = 1;   // object k is surface 2 + k

}  // namespace

void render_scene(const Scene& scene, int64_t size, uint64_t rgb_noise_seed, uint64_t depth_noise_seed, float* rgb,
                  float* depth, int64_t* labels, int64_t rgb_samples) {
  const Camera& cam = scene.camera;
  const Vec3 origin{0, cam.height, 0};
  const Vec3 forward{0, -std::sin(cam.pitch), std::cos(cam.pitch)};
  const Vec3 right0{1, 0, 0}, up0{0, std::cos(cam.pitch), std::sin(cam.pitch)};
  const float cr = std::cos(cam.roll), sr = std::sin(cam.roll);
  const Vec3 right = cr * right0 + sr * up0, up = cr * up0 - sr * right0;
  const float focal = 0.5f * static_cast<float>(size) / std::tan(0.5f * cam.hfov);   // pixels

  const Vec3 wall_normal{std::sin(scene.wall_yaw), 0, -std::cos(scene.wall_yaw)};   // towards the camera
  const Vec3 wall_tangent{std::cos(scene.wall_yaw), 0, std::sin(scene.wall_yaw)};
  const float wall_num = -scene.wall_distance * std::cos(scene.wall_yaw);   // (P0 - origin) . wall_normal

  std::vector<PreparedObject> objects;
  objects.reserve(scene.objects.size());
  for (const SceneObject& o : scene.objects) objects.push_back(prepare(o));

  const Vec3 light{scene.light.dir[0], scene.light.dir[1], scene.light.dir[2]};
  const int64_t plane = size * size;
  std::vector<float> clean(plane);        // noiseless depth, for the edge holes
  std::vector<int> surface(plane);
  std::vector<float> grazing(plane);      // |cos| between the view ray and the surface normal
  Generator rgb_gen(rgb_noise_seed);

  // What one ray through the image point (sx, sy) (in units of the focal length) sees.
  struct RayHit {
    int surface = kNoSurface;
    float t = 0;           // depth along the optical axis; 0 when nothing is hit
    float cos_view = 1;    // |cos| between the ray and the surface normal
    int64_t label = kWallLabel;
    Colour colour;
  };
  const auto cast = [&](float sx, float sy, float samples_per_focal) {
    const Vec3 d = forward + sx * right - sy * up;
    // The nearest of floor, wall and objects.
    float t = kInf;
    int hit = kNoSurface;
    Vec3 normal{0, 1, 0};
    if (d.y < 0) {
      t = -cam.height / d.y;
      hit = kFloor;
    }
    const float wall_denom = dot(d, wall_normal);
    if (wall_denom < 0 && wall_num / wall_denom < t) {
      t = wall_num / wall_denom;
      hit = kWall;
      normal = wall_normal;
    }
    for (size_t k = 0; k < objects.size(); ++k) {
      Vec3 n;
      const float tk = intersect_object(objects[k], origin, d, &n);
      if (tk < t) {
        t = tk;
        hit = 2 + static_cast<int>(k);
        normal = n;
      }
    }
    RayHit r;
    r.surface = hit;
    if (hit == kNoSurface) {
      r.colour = scene.wall.base;
      return r;
    }
    normal = normalized(normal);
    const Vec3 point = origin + t * d;
    const float ray_length = std::sqrt(dot(d, d));
    r.t = t;
    r.cos_view = std::fabs(dot(normal, d)) / ray_length;
    const float footprint = t * ray_length / samples_per_focal / std::max(r.cos_view, 0.1f);
    // Texture coordinates: the floor's (x, z), along the wall and up, an object's (x - x_centre, y).
    const Material* m = &scene.floor;
    float u = point.x, v = point.z;
    r.label = kFloorLabel;
    if (hit == kWall) {
      m = &scene.wall;
      u = dot(point, wall_tangent);
      v = point.y;
      r.label = kWallLabel;
    } else if (hit >= 2) {
      const SceneObject& o = scene.objects[hit - 2];
      m = &o.material;
      u = point.x - o.x;
      v = point.y;
      r.label = o.pixel_label();
    }
    const float w = pattern_weight(*m, u, v, footprint);
    const float shade = scene.light.ambient + (1 - scene.light.ambient) * std::max(0.0f, dot(normal, light));
    r.colour.r = ((1 - w) * m->base.r + w * m->second.r) * shade * scene.light.colour.r;
    r.colour.g = ((1 - w) * m->base.g + w * m->second.g) * shade * scene.light.colour.g;
    r.colour.b = ((1 - w) * m->base.b + w * m->second.b) * shade * scene.light.colour.b;
    return r;
  };

  // Depth and labels come from the ray through the pixel's centre (a depth sensor reports one
  // surface, not a blend); RGB averages rgb_samples x rgb_samples rays spread evenly over the
  // pixel, as a camera's pixel integrates the light that falls on it.
  const float sub_focal = focal * static_cast<float>(rgb_samples);   // subsamples per unit image plane
  for (int64_t i = 0; i < size; ++i) {
    for (int64_t j = 0; j < size; ++j) {
      const float sx = (static_cast<float>(j) + 0.5f - 0.5f * static_cast<float>(size)) / focal;
      const float sy = (static_cast<float>(i) + 0.5f - 0.5f * static_cast<float>(size)) / focal;
      const RayHit centre = cast(sx, sy, focal);
      const int64_t p = i * size + j;
      surface[p] = centre.surface;
      labels[p] = centre.label;
      clean[p] = centre.t;
      grazing[p] = centre.cos_view;
      Colour c = centre.colour;
      if (rgb_samples > 1) {
        c = {0, 0, 0};
        for (int64_t a = 0; a < rgb_samples; ++a) {
          for (int64_t b = 0; b < rgb_samples; ++b) {
            const float ox = (static_cast<float>(b) + 0.5f - 0.5f * static_cast<float>(rgb_samples)) / sub_focal;
            const float oy = (static_cast<float>(a) + 0.5f - 0.5f * static_cast<float>(rgb_samples)) / sub_focal;
            const Colour ray = cast(sx + ox, sy + oy, sub_focal).colour;
            c.r += ray.r, c.g += ray.g, c.b += ray.b;
          }
        }
        const float k = 1.0f / static_cast<float>(rgb_samples * rgb_samples);
        c.r *= k, c.g *= k, c.b *= k;
      }
      const float channel[3] = {c.r, c.g, c.b};
      for (int ch = 0; ch < 3; ++ch) {
        const float value = std::clamp(channel[ch] + scene.rgb_noise * noise(rgb_gen), 0.0f, 1.0f);
        rgb[ch * plane + p] = std::nearbyint(value * 255.0f) / 255.0f;
      }
    }
  }

  // Depth: every pixel draws the same two numbers whatever it shows, so the noise of a pixel
  // never depends on the rest of the scene. An object's finish (from its family, never its colour)
  // scales its pixels' drop probability and noise; with the same draws, a finish with larger
  // factors keeps every hole of a smaller one.
  std::vector<DepthFinish> finishes;
  for (const SceneObject& o : scene.objects) finishes.push_back(depth_finish(o.family, o.finish));
  Generator depth_gen(depth_noise_seed);
  for (int64_t i = 0; i < size; ++i) {
    for (int64_t j = 0; j < size; ++j) {
      const int64_t p = i * size + j;
      const float n = noise(depth_gen);
      const uint64_t bits = depth_gen.next_u64();
      const float u_drop = static_cast<float>(bits & 0xffff) * (1.0f / 65536.0f);
      const float u_edge = static_cast<float>((bits >> 16) & 0xffff) * (1.0f / 65536.0f);
      const float u_graze = static_cast<float>((bits >> 32) & 0xffff) * (1.0f / 65536.0f);

      const float z = clean[p];
      // Occluding edge: a 4-neighbour on another surface, one of them an object, > 10 cm apart.
      // The farther side (the sensor's shadow) loses more readings than the nearer one.
      float edge_prob = 0;
      const int64_t neighbours[4][2] = {{i - 1, j}, {i + 1, j}, {i, j - 1}, {i, j + 1}};
      for (const auto& q : neighbours) {
        if (q[0] < 0 || q[0] >= size || q[1] < 0 || q[1] >= size) continue;
        const int64_t pq = q[0] * size + q[1];
        if (surface[pq] == surface[p] || (surface[pq] < 2 && surface[p] < 2)) continue;
        const float gap = z - clean[pq];
        if (gap > 0.1f) edge_prob = std::max(edge_prob, scene.edge_hole_prob);
        else if (gap < -0.1f) edge_prob = std::max(edge_prob, scene.edge_hole_prob / 3);
      }
      const DepthFinish finish = surface[p] >= 2 ? finishes[surface[p] - 2] : DepthFinish{};
      const bool hole = z <= 0 || z > kMaxRange || u_drop < finish.drop * scene.hole_prob || u_edge < edge_prob ||
                        (grazing[p] < 0.12f && u_graze < 0.5f);
      if (hole) {
        depth[p] = 0;
        continue;
      }
      const float noisy = z + finish.noise * scene.depth_noise_gain * depth_noise_std(z) * n;
      const float mm = std::clamp(std::nearbyint(noisy * 1000.0f), 1.0f, 65535.0f);
      depth[p] = mm * 0.001f;
    }
  }
}

}  // namespace xmkd::data::synthetic
