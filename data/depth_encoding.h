// How a depth map is presented to a network. A depth sensor gives metres along the optical axis
// with 0 for a hole; what a network learns from depends on the encoding (docs/data.md, "Depth
// encodings"):
//
//   metric   the depth in metres as it is (1 channel).
//   relief   depth minus its local mean over the valid pixels of a window x window neighbourhood,
//            clipped to ±clip metres (1 channel). It removes the metres between floor, wall and
//            object and keeps the centimetres of curvature that tell a cylinder from a box.
//            Holes become 0, the local mean ("fill", the default), or -1.5·clip ("mark").
//   normals  the unit surface normal in camera coordinates (x right, y down, z forward), pointing
//            towards the camera, from the depth smoothed over window x window valid pixels and a
//            pinhole camera with the given horizontal field of view, principal point at the image
//            centre, square pixels (3 channels: nx, ny, nz in [-1, 1]; holes 0, 0, 0).
//
// The encoding is a deterministic function of one depth map, applied after augmentation (which
// acts on the sensor's metres: noise, drops, flips, crops) and before normalisation, identically
// by train, eval, predict and export; a run and an exported network record it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/transforms.h"

namespace xmkd::data {

enum class DepthEncodingKind { Metric, Relief, Normals };

struct DepthEncoding {
  DepthEncodingKind kind = DepthEncodingKind::Metric;
  int64_t window = 5;        // relief: the local mean's window; normals: the smoothing window (odd, >= 1)
  float clip = 0.2f;         // relief: metres
  bool fill_holes = true;    // relief: holes at 0 (the local mean) or marked at -1.5·clip
  float hfov_deg = 58.0f;    // normals: the depth camera's horizontal field of view

  int64_t channels() const { return kind == DepthEncodingKind::Normals ? 3 : 1; }
  bool identity() const { return kind == DepthEncodingKind::Metric; }
  std::string describe() const;   // "relief(window=5, clip=0.2, holes=fill)"
};

const char* depth_encoding_name(DepthEncodingKind kind);    // "metric" | "relief" | "normals"
DepthEncodingKind parse_depth_encoding(const std::string& name);   // error lists the names
std::vector<std::string> depth_encoding_names();
// The defaults of an encoding (the window of normals is 3, of relief 5).
DepthEncoding default_depth_encoding(DepthEncodingKind kind);

// What a run's dataset.json and an exported network's metadata record; from_json checks every
// field and names `where` (a file and key) in its errors.
nlohmann::json depth_encoding_to_json(const DepthEncoding& encoding);
DepthEncoding depth_encoding_from_json(const nlohmann::json& value, const std::string& where);

// depth: (H, W) metres, 0 = hole   out: (channels, H, W)
void encode_depth(const float* depth, int64_t H, int64_t W, const DepthEncoding& encoding, float* out);
// depth: (1, H, W) float32 on the CPU -> (channels, H, W)
Tensor encode_depth(const Tensor& depth, const DepthEncoding& encoding);

// The transform that replaces modality `modality` (a 1-channel depth map) by its encoding.
std::shared_ptr<Transform> depth_encoding(int64_t modality, const DepthEncoding& encoding);

// `base` with modality `modality` replaced by its encoding (its spec gets the encoding's channel
// count): what normalisation statistics are computed over.
std::shared_ptr<const Dataset> depth_encoded(std::shared_ptr<const Dataset> base, int64_t modality,
                                             const DepthEncoding& encoding);

}  // namespace xmkd::data
