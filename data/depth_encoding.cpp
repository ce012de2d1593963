// Depth encodings (data/depth_encoding.h). Both encodings start from the same local mean over
// valid pixels: with v = [d > 0] and box sums over a k x k window (zero outside the image),
//   local = box(d · v) / max(box(v), 1e-3 · k²)
// which is the mean of the window's valid in-image pixels (a valid pixel counts itself, so the
// guard only matters at holes whose whole window is empty). Sums are in double, row then column,
// so every machine computes the same values.
#include "data/depth_encoding.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "data/transforms_detail.h"

namespace xmkd::data {
namespace {

// out = the k x k box sum of x (H, W), zero outside; separable running sums.
void box_sum(const std::vector<double>& x, int64_t H, int64_t W, int64_t k, std::vector<double>& out) {
  const int64_t r = k / 2;
  std::vector<double> rows(x.size());
  for (int64_t i = 0; i < H; ++i) {
    const double* in = &x[i * W];
    for (int64_t j = 0; j < W; ++j) {
      double s = 0.0;
      for (int64_t t = std::max<int64_t>(0, j - r); t <= std::min(W - 1, j + r); ++t) s += in[t];
      rows[i * W + j] = s;
    }
  }
  out.assign(x.size(), 0.0);
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) {
      double s = 0.0;
      for (int64_t t = std::max<int64_t>(0, i - r); t <= std::min(H - 1, i + r); ++t) s += rows[t * W + j];
      out[i * W + j] = s;
    }
}

// The local mean of the valid pixels around each pixel (see the top of the file).
std::vector<double> local_valid_mean(const float* depth, int64_t H, int64_t W, int64_t k) {
  const auto n = static_cast<size_t>(H * W);
  std::vector<double> masked(n), valid(n), sum, count;
  for (size_t i = 0; i < n; ++i) {
    valid[i] = depth[i] > 0.0f ? 1.0 : 0.0;
    masked[i] = valid[i] * depth[i];
  }
  box_sum(masked, H, W, k, sum);
  box_sum(valid, H, W, k, count);
  const double guard = 1e-3 * static_cast<double>(k * k);
  for (size_t i = 0; i < n; ++i) sum[i] /= std::max(count[i], guard);
  return sum;
}

void encode_relief(const float* depth, int64_t H, int64_t W, const DepthEncoding& e, float* out) {
  const std::vector<double> local = local_valid_mean(depth, H, W, e.window);
  const double clip = e.clip, hole = e.fill_holes ? 0.0 : -1.5 * clip;
  for (int64_t i = 0; i < H * W; ++i)
    out[i] = static_cast<float>(depth[i] > 0.0f ? std::clamp(depth[i] - local[i], -clip, clip) : hole);
}

// Normals from the back-projected points of the smoothed depth z: P(u, v) = ((u - cx) z / f,
// (v - cy) z / f, z). Tangents are central differences where both neighbours are valid, one-sided
// where one is, and n = t_v x t_u / |t_v x t_u| (which points towards the camera for a surface the
// camera sees; it is flipped if it does not, n · P > 0). No tangent in a direction: n = 0.
void encode_normals(const float* depth, int64_t H, int64_t W, const DepthEncoding& e, float* out) {
  const std::vector<double> z = local_valid_mean(depth, H, W, e.window);
  const double pi = std::acos(-1.0);
  const double f = 0.5 * static_cast<double>(W) / std::tan(0.5 * e.hfov_deg * pi / 180.0);
  const double cx = 0.5 * static_cast<double>(W - 1), cy = 0.5 * static_cast<double>(H - 1);
  auto valid = [&](int64_t i, int64_t j) { return i >= 0 && i < H && j >= 0 && j < W && depth[i * W + j] > 0.0f; };
  auto point = [&](int64_t i, int64_t j, double p[3]) {
    const double d = z[i * W + j];
    p[0] = (static_cast<double>(j) - cx) * d / f;
    p[1] = (static_cast<double>(i) - cy) * d / f;
    p[2] = d;
  };
  // The difference between the points at (i0, j0) and (i1, j1), the valid ones nearest p.
  auto tangent = [&](int64_t i, int64_t j, int64_t di, int64_t dj, double t[3]) {
    const bool ahead = valid(i + di, j + dj), behind = valid(i - di, j - dj);
    if (!ahead && !behind) return false;
    double a[3], b[3];
    point(ahead ? i + di : i, ahead ? j + dj : j, a);
    point(behind ? i - di : i, behind ? j - dj : j, b);
    for (int c = 0; c < 3; ++c) t[c] = a[c] - b[c];
    return true;
  };
  const int64_t plane = H * W;
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) {
      const int64_t k = i * W + j;
      double n[3] = {0.0, 0.0, 0.0}, tu[3], tv[3];
      if (valid(i, j) && tangent(i, j, 0, 1, tu) && tangent(i, j, 1, 0, tv)) {
        n[0] = tv[1] * tu[2] - tv[2] * tu[1];
        n[1] = tv[2] * tu[0] - tv[0] * tu[2];
        n[2] = tv[0] * tu[1] - tv[1] * tu[0];
        double p[3];
        point(i, j, p);
        const double norm = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        const double sign = n[0] * p[0] + n[1] * p[1] + n[2] * p[2] > 0.0 ? -1.0 : 1.0;
        for (double& c : n) c = norm > 0.0 ? sign * c / norm : 0.0;
      }
      for (int c = 0; c < 3; ++c) out[c * plane + k] = static_cast<float>(n[c]);
    }
}

void check_encoding(const DepthEncoding& e) {
  XMKD_CHECK(e.window >= 1 && e.window % 2 == 1 && e.window <= 63, "depth encoding ", depth_encoding_name(e.kind),
             ": window must be an odd number of pixels in [1, 63], got ", e.window);
  XMKD_CHECK(std::isfinite(e.clip) && e.clip > 0.0f, "depth encoding ", depth_encoding_name(e.kind),
             ": clip must be a positive number of metres, got ", e.clip);
  XMKD_CHECK(std::isfinite(e.hfov_deg) && e.hfov_deg > 0.0f && e.hfov_deg < 180.0f, "depth encoding ",
             depth_encoding_name(e.kind), ": hfov_deg must be in (0, 180), got ", e.hfov_deg);
}

class EncodeDepth : public Transform {
 public:
  EncodeDepth(int64_t modality, const DepthEncoding& encoding) : modality_(modality), encoding_(encoding) {
    XMKD_CHECK(modality >= 0, "depth_encoding: modality must be >= 0, got ", modality);
    check_encoding(encoding);
  }
  void apply(Sample& sample, Generator&) const override {
    const Tensor& depth = detail::checked_image(sample, modality_, "depth_encoding");
    sample.images[static_cast<size_t>(modality_)] = encode_depth(depth, encoding_);
  }
  std::string describe() const override { return str_cat("depth_encoding(modality=", modality_, ", ", encoding_.describe(), ")"); }

 private:
  int64_t modality_;
  DepthEncoding encoding_;
};

class DepthEncoded : public Dataset {
 public:
  DepthEncoded(std::shared_ptr<const Dataset> base, int64_t modality, const DepthEncoding& encoding)
      : base_(std::move(base)), transform_(modality, encoding), specs_(base_->modalities()) {
    XMKD_CHECK(modality >= 0 && modality < static_cast<int64_t>(specs_.size()), "depth_encoded: modality ", modality,
               " of a dataset with ", specs_.size());
    specs_[static_cast<size_t>(modality)].channels = encoding.channels();
  }
  int64_t size() const override { return base_->size(); }
  Sample get(int64_t index) const override {
    Sample sample = base_->get(index);
    Generator unused(0);   // an encoding draws nothing
    transform_.apply(sample, unused);
    return sample;
  }
  const std::vector<ModalitySpec>& modalities() const override { return specs_; }
  int64_t num_classes() const override { return base_->num_classes(); }
  Task task() const override { return base_->task(); }
  std::vector<int64_t> labels() const override { return base_->labels(); }
  std::string describe() const override { return str_cat(base_->describe(), " [", transform_.describe(), "]"); }

 private:
  std::shared_ptr<const Dataset> base_;
  EncodeDepth transform_;
  std::vector<ModalitySpec> specs_;
};

// The shortest decimal that reads back as the same float, so that 63.3f is recorded as 63.3.
double shortest_decimal(float v) {
  char text[32] = "0";
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(v));
    if (std::strtof(text, nullptr) == v) break;
  }
  return std::strtod(text, nullptr);
}

}  // namespace

const char* depth_encoding_name(DepthEncodingKind kind) {
  switch (kind) {
    case DepthEncodingKind::Metric: return "metric";
    case DepthEncodingKind::Relief: return "relief";
    case DepthEncodingKind::Normals: return "normals";
  }
  return "?";
}

std::vector<std::string> depth_encoding_names() { return {"metric", "relief", "normals"}; }

DepthEncodingKind parse_depth_encoding(const std::string& name) {
  for (DepthEncodingKind kind : {DepthEncodingKind::Metric, DepthEncodingKind::Relief, DepthEncodingKind::Normals})
    if (name == depth_encoding_name(kind)) return kind;
  fail("unknown depth encoding '", name, "' (expected metric, relief or normals)");
}

DepthEncoding default_depth_encoding(DepthEncodingKind kind) {
  DepthEncoding e;
  e.kind = kind;
  if (kind == DepthEncodingKind::Normals) e.window = 3;
  return e;
}

std::string DepthEncoding::describe() const {
  switch (kind) {
    case DepthEncodingKind::Metric: return "metric";
    case DepthEncodingKind::Relief:
      return str_cat("relief(window=", window, ", clip=", clip, ", holes=", fill_holes ? "fill" : "mark", ")");
    case DepthEncodingKind::Normals: return str_cat("normals(window=", window, ", hfov_deg=", hfov_deg, ")");
  }
  return "?";
}

nlohmann::json depth_encoding_to_json(const DepthEncoding& e) {
  nlohmann::json j = {{"name", depth_encoding_name(e.kind)}};
  if (e.kind == DepthEncodingKind::Relief) {
    j["window"] = e.window;
    j["clip"] = shortest_decimal(e.clip);
    j["holes"] = e.fill_holes ? "fill" : "mark";
  } else if (e.kind == DepthEncodingKind::Normals) {
    j["window"] = e.window;
    j["hfov_deg"] = shortest_decimal(e.hfov_deg);
  }
  return j;
}

DepthEncoding depth_encoding_from_json(const nlohmann::json& j, const std::string& where) {
  XMKD_CHECK(j.is_object() && j.contains("name") && j["name"].is_string(), where,
             ": expected a depth encoding {\"name\": \"metric\" | \"relief\" | \"normals\", ...}, got ", j.dump());
  DepthEncoding e;
  try {
    e = default_depth_encoding(parse_depth_encoding(j["name"].get<std::string>()));
  } catch (const Error& error) {
    fail(where, ": ", error.what());
  }
  auto number = [&](const char* key, bool integer) -> const nlohmann::json& {
    XMKD_CHECK(j.contains(key) && (integer ? j[key].is_number_integer() : j[key].is_number()), where, ": encoding '",
               depth_encoding_name(e.kind), "' needs ", integer ? "an integer" : "a number", " '", key, "', got ",
               j.contains(key) ? j[key].dump() : std::string("nothing"));
    return j[key];
  };
  if (e.kind == DepthEncodingKind::Relief) {
    e.window = number("window", true).get<int64_t>();
    e.clip = number("clip", false).get<float>();
    const std::string holes = j.value("holes", std::string());
    XMKD_CHECK(holes == "fill" || holes == "mark", where, ": 'holes' must be \"fill\" or \"mark\", got ",
               j.contains("holes") ? j["holes"].dump() : std::string("nothing"));
    e.fill_holes = holes == "fill";
  } else if (e.kind == DepthEncodingKind::Normals) {
    e.window = number("window", true).get<int64_t>();
    e.hfov_deg = number("hfov_deg", false).get<float>();
  }
  try {
    check_encoding(e);
  } catch (const Error& error) {
    fail(where, ": ", error.what());
  }
  return e;
}

void encode_depth(const float* depth, int64_t H, int64_t W, const DepthEncoding& encoding, float* out) {
  switch (encoding.kind) {
    case DepthEncodingKind::Metric: std::copy(depth, depth + H * W, out); return;
    case DepthEncodingKind::Relief: encode_relief(depth, H, W, encoding, out); return;
    case DepthEncodingKind::Normals: encode_normals(depth, H, W, encoding, out); return;
  }
}

Tensor encode_depth(const Tensor& depth, const DepthEncoding& encoding) {
  XMKD_CHECK(depth.defined() && depth.ndim() == 3 && depth.dim(0) == 1 && depth.dtype() == DType::Float32 &&
                 depth.device() == Device::CPU,
             "encode_depth: expected a (1, H, W) float32 depth map on the CPU, got ",
             depth.defined() ? depth.str() : "an undefined tensor");
  if (encoding.identity()) return depth;
  check_encoding(encoding);
  Tensor out = Tensor::empty({encoding.channels(), depth.dim(1), depth.dim(2)});
  encode_depth(depth.data<float>(), depth.dim(1), depth.dim(2), encoding, out.data<float>());
  return out;
}

std::shared_ptr<Transform> depth_encoding(int64_t modality, const DepthEncoding& encoding) {
  return std::make_shared<EncodeDepth>(modality, encoding);
}

std::shared_ptr<const Dataset> depth_encoded(std::shared_ptr<const Dataset> base, int64_t modality,
                                             const DepthEncoding& encoding) {
  return std::make_shared<DepthEncoded>(std::move(base), modality, encoding);
}

}  // namespace xmkd::data
