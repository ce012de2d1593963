// Geometric transforms: resize, random scale-crop, flips and quarter turns, applied to images
// (bilinear) and label maps (nearest, so no class is ever invented) with the same draw.
//
// Order within one application: resize (no draw), then scale-crop, horizontal flip, vertical
// flip, rotation. Draw order for one geometry (each only when enabled): the scale s (when
// scale_min < scale_max) and the window offsets (when the range is not [1, 1]), hflip, vflip,
// then whether to rotate and the number of quarter turns k in {1, 2, 3}.
#include <algorithm>
#include <cmath>

#include "data/transforms.h"

namespace xmkd::data {
namespace {

// One draw of the random geometry; everything that shares a draw moves the same way.
struct GeometryDraw {
  bool scaled = false;
  int64_t scaled_h = 0, scaled_w = 0;    // size of the zoomed image
  int64_t offset_y = 0, offset_x = 0;    // output (y, x) reads zoomed (y + offset_y, x + offset_x)
  bool hflip = false, vflip = false;
  int quarter_turns = 0;                 // counter-clockwise, 0..3
};

// Bilinear with half-pixel centres (source = (dst + 0.5) * in/out - 0.5, clamped to the image):
// the usual align_corners = false resampling. img: (C, H, W) -> (C, out_h, out_w).
Tensor resize_bilinear(const Tensor& img, int64_t out_h, int64_t out_w) {
  const int64_t C = img.dim(0), H = img.dim(1), W = img.dim(2);
  if (H == out_h && W == out_w) return img;
  Tensor out = Tensor::empty({C, out_h, out_w});
  const float* src = img.data<float>();
  float* dst = out.data<float>();
  const double sy = static_cast<double>(H) / out_h, sx = static_cast<double>(W) / out_w;
  std::vector<int64_t> x0(out_w), x1(out_w);
  std::vector<float> fx(out_w);
  for (int64_t x = 0; x < out_w; ++x) {
    const double s = std::max(0.0, (x + 0.5) * sx - 0.5);
    x0[x] = std::min(static_cast<int64_t>(s), W - 1);
    x1[x] = std::min(x0[x] + 1, W - 1);
    fx[x] = static_cast<float>(s - x0[x]);
  }
  for (int64_t y = 0; y < out_h; ++y) {
    const double s = std::max(0.0, (y + 0.5) * sy - 0.5);
    const int64_t y0 = std::min(static_cast<int64_t>(s), H - 1), y1 = std::min(y0 + 1, H - 1);
    const float fy = static_cast<float>(s - y0);
    for (int64_t c = 0; c < C; ++c) {
      const float* r0 = src + (c * H + y0) * W;
      const float* r1 = src + (c * H + y1) * W;
      float* o = dst + (c * out_h + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        const float top = r0[x0[x]] + fx[x] * (r0[x1[x]] - r0[x0[x]]);
        const float bottom = r1[x0[x]] + fx[x] * (r1[x1[x]] - r1[x0[x]]);
        o[x] = top + fy * (bottom - top);
      }
    }
  }
  return out;
}

// Nearest with half-pixel centres: destination pixel d reads source floor((d + 0.5) * in/out).
int64_t nearest_source(int64_t d, int64_t in, int64_t out) {
  return std::min((2 * d + 1) * in / (2 * out), in - 1);
}

// labels: (H, W) int64 -> (out_h, out_w).
Tensor resize_nearest(const Tensor& labels, int64_t out_h, int64_t out_w) {
  const int64_t H = labels.dim(0), W = labels.dim(1);
  if (H == out_h && W == out_w) return labels;
  Tensor out = Tensor::empty({out_h, out_w}, DType::Int64);
  const int64_t* src = labels.data<int64_t>();
  int64_t* dst = out.data<int64_t>();
  for (int64_t y = 0; y < out_h; ++y) {
    const int64_t* row = src + nearest_source(y, H, out_h) * W;
    for (int64_t x = 0; x < out_w; ++x) dst[y * out_w + x] = row[nearest_source(x, W, out_w)];
  }
  return out;
}

// The H x W window of `t` ((C, h, w) as planes) whose origin is (oy, ox); outside `t`: pad.
template <class T>
Tensor crop_or_pad(const Tensor& t, int64_t C, int64_t oy, int64_t ox, int64_t H, int64_t W, T pad) {
  const int64_t h = t.dim(-2), w = t.dim(-1);
  Shape shape = t.shape();
  shape[shape.size() - 2] = H;
  shape[shape.size() - 1] = W;
  Tensor out = Tensor::empty(shape, t.dtype());
  const T* src = t.data<T>();
  T* dst = out.data<T>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y) {
      T* o = dst + (c * H + y) * W;
      const int64_t sy = y + oy;
      for (int64_t x = 0; x < W; ++x) {
        const int64_t sx = x + ox;
        o[x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[(c * h + sy) * w + sx] : pad;
      }
    }
  return out;
}

// Flips then rotation in one pass; planes of H x W (H == W when rotating). With f the flipped
// image and N = H: a quarter turn counter-clockwise reads out[y][x] = f[x][N-1-y]; two read
// f[N-1-y][N-1-x]; three read f[N-1-x][y].
template <class T>
Tensor flip_rotate(const Tensor& t, int64_t C, const GeometryDraw& g) {
  if (!g.hflip && !g.vflip && g.quarter_turns == 0) return t;
  const int64_t H = t.dim(-2), W = t.dim(-1), N = H;
  Tensor out = Tensor::empty(t.shape(), t.dtype());
  const T* src = t.data<T>();
  T* dst = out.data<T>();
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      int64_t fy = y, fx = x;
      switch (g.quarter_turns) {
        case 1: fy = x; fx = N - 1 - y; break;
        case 2: fy = N - 1 - y; fx = N - 1 - x; break;
        case 3: fy = N - 1 - x; fx = y; break;
        default: break;
      }
      const int64_t sy = g.vflip ? H - 1 - fy : fy;
      const int64_t sx = g.hflip ? W - 1 - fx : fx;
      for (int64_t c = 0; c < C; ++c) dst[(c * H + y) * W + x] = src[(c * H + sy) * W + sx];
    }
  return out;
}

Tensor apply_to_image(const Tensor& img, const GeometryDraw& g) {
  const int64_t C = img.dim(0), H = img.dim(1), W = img.dim(2);
  Tensor t = img;
  if (g.scaled) t = crop_or_pad<float>(resize_bilinear(t, g.scaled_h, g.scaled_w), C, g.offset_y, g.offset_x, H, W, 0.0f);
  return flip_rotate<float>(t, C, g);
}

Tensor apply_to_labels(const Tensor& labels, const GeometryDraw& g) {
  const int64_t H = labels.dim(0), W = labels.dim(1);
  Tensor t = labels;
  if (g.scaled)
    t = crop_or_pad<int64_t>(resize_nearest(t, g.scaled_h, g.scaled_w), 1, g.offset_y, g.offset_x, H, W, kIgnoreLabel);
  return flip_rotate<int64_t>(t, 1, g);
}

// A signed window origin: in [0, zoomed - size] when zooming in, in [zoomed - size, 0] (the
// image lands inside a padded canvas) when zooming out.
int64_t draw_offset(int64_t zoomed, int64_t size, Generator& gen) {
  const int64_t slack = zoomed - size;
  if (slack == 0) return 0;
  const int64_t r = gen.randint(std::abs(slack) + 1);
  return slack > 0 ? r : -r;
}

class Geometric : public Transform {
 public:
  explicit Geometric(const GeometricOptions& o) : o_(o) {
    auto check_prob = [](float p, const char* name) {
      XMKD_CHECK(p >= 0.0f && p <= 1.0f, "geometric: ", name, " is a probability in [0, 1], got ", p);
    };
    check_prob(o.hflip, "hflip");
    check_prob(o.vflip, "vflip");
    check_prob(o.rot90, "rot90");
    XMKD_CHECK(o.scale_min > 0.0f && o.scale_min <= o.scale_max, "geometric: scale range must satisfy 0 < scale_min <= scale_max, got [",
               o.scale_min, ", ", o.scale_max, "]");
    XMKD_CHECK((o.resize_h == 0 && o.resize_w == 0) || (o.resize_h > 0 && o.resize_w > 0),
               "geometric: resize needs both resize_h and resize_w > 0 (or both 0 to keep the size), got ", o.resize_h, "x",
               o.resize_w);
  }

  void apply(Sample& sample, Generator& gen) const override {
    const size_t M = sample.images.size();
    XMKD_CHECK(M > 0, "geometric: the sample has no images");
    XMKD_CHECK(sample.label_maps.empty() || sample.label_maps.size() == M, "geometric: expected one label map per modality (",
               M, "), got ", sample.label_maps.size());
    for (size_t m = 0; m < M; ++m) {
      const Tensor& img = sample.images[m];
      XMKD_CHECK(img.defined() && img.ndim() == 3 && img.dtype() == DType::Float32 && img.device() == Device::CPU,
                 "geometric: modality ", m, " must be a float32 (C, H, W) image on the CPU, got ",
                 img.defined() ? img.str() : "an undefined tensor");
      if (!sample.label_maps.empty() && sample.label_maps[m].defined()) {
        const Tensor& lm = sample.label_maps[m];
        XMKD_CHECK(lm.ndim() == 2 && lm.dtype() == DType::Int64 && lm.device() == Device::CPU && lm.dim(0) == img.dim(1) &&
                       lm.dim(1) == img.dim(2),
                   "geometric: the label map of modality ", m, " must be int64 (", img.dim(1), ", ", img.dim(2),
                   ") on the CPU like its image, got ", lm.str());
      }
    }
    if (o_.resize_h > 0) resize(sample);

    if (o_.decoupled) {
      for (size_t m = 0; m < M; ++m) {
        const GeometryDraw g = draw(sample.images[m].dim(1), sample.images[m].dim(2), m, gen);
        sample.images[m] = apply_to_image(sample.images[m], g);
        if (!sample.label_maps.empty() && sample.label_maps[m].defined())
          sample.label_maps[m] = apply_to_labels(sample.label_maps[m], g);
      }
      return;
    }
    const int64_t H = sample.images[0].dim(1), W = sample.images[0].dim(2);
    for (size_t m = 1; m < M; ++m)
      XMKD_CHECK(sample.images[m].dim(1) == H && sample.images[m].dim(2) == W, "geometric: joint mode needs modalities of one size; modality 0 is ",
                 H, "x", W, ", modality ", m, " is ", sample.images[m].dim(1), "x", sample.images[m].dim(2));
    const GeometryDraw g = draw(H, W, 0, gen);
    for (Tensor& img : sample.images) img = apply_to_image(img, g);
    transform_label_maps(sample.label_maps, [&](const Tensor& lm) { return apply_to_labels(lm, g); });
  }

  std::string describe() const override {
    return str_cat("geometric(hflip=", o_.hflip, ", vflip=", o_.vflip, ", rot90=", o_.rot90, ", scale=[", o_.scale_min, ", ",
                   o_.scale_max, "], resize=", o_.resize_h, "x", o_.resize_w, ", ", o_.decoupled ? "decoupled" : "joint", ")");
  }

 private:
  // Label maps that are one tensor shared by several modalities are transformed once and stay shared.
  template <class F>
  static void transform_label_maps(std::vector<Tensor>& maps, const F& f) {
    const std::vector<Tensor> originals = maps;
    for (size_t m = 0; m < maps.size(); ++m) {
      if (!originals[m].defined()) continue;
      size_t first = 0;
      while (first < m && !originals[first].same_as(originals[m])) ++first;
      maps[m] = first < m ? maps[first] : f(originals[m]);
    }
  }

  void resize(Sample& sample) const {
    for (Tensor& img : sample.images) img = resize_bilinear(img, o_.resize_h, o_.resize_w);
    transform_label_maps(sample.label_maps, [&](const Tensor& lm) { return resize_nearest(lm, o_.resize_h, o_.resize_w); });
  }

  GeometryDraw draw(int64_t H, int64_t W, size_t modality, Generator& gen) const {
    GeometryDraw g;
    if (o_.scale_min != 1.0f || o_.scale_max != 1.0f) {
      const float s = o_.scale_min == o_.scale_max ? o_.scale_min : gen.uniform(o_.scale_min, o_.scale_max);
      g.scaled_h = std::max<int64_t>(1, std::llround(H * static_cast<double>(s)));
      g.scaled_w = std::max<int64_t>(1, std::llround(W * static_cast<double>(s)));
      g.offset_y = draw_offset(g.scaled_h, H, gen);
      g.offset_x = draw_offset(g.scaled_w, W, gen);
      g.scaled = true;
    }
    if (o_.hflip > 0.0f) g.hflip = gen.uniform() < o_.hflip;
    if (o_.vflip > 0.0f) g.vflip = gen.uniform() < o_.vflip;
    if (o_.rot90 > 0.0f) {
      XMKD_CHECK(H == W, "geometric: rot90 needs square images, modality ", modality, " is ", H, "x", W);
      if (gen.uniform() < o_.rot90) g.quarter_turns = 1 + static_cast<int>(gen.randint(3));
    }
    return g;
  }

  GeometricOptions o_;
};

}  // namespace

std::shared_ptr<Transform> geometric(const GeometricOptions& options) { return std::make_shared<Geometric>(options); }

}  // namespace xmkd::data
