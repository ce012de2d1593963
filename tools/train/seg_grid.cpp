// The segmentation example grid and the class palette (tools/train/ui.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "data/dataset.h"
#include "tools/train/canvas.h"
#include "tools/train/ui.h"

namespace xmkd::train {
namespace {

// Hand-picked, mutually distinct colours for the first classes; later ones step round the hue
// circle by the golden angle.
const std::array<uint8_t, 3> kPalette[] = {
    {230, 25, 75},   {60, 180, 75},   {255, 225, 25},  {0, 130, 200},   {245, 130, 48},  {145, 30, 180},
    {70, 240, 240},  {240, 50, 230},  {210, 245, 60},  {250, 190, 212}, {0, 128, 128},   {220, 190, 255},
    {170, 110, 40},  {255, 250, 200}, {128, 0, 0},     {170, 255, 195}, {128, 128, 0},   {255, 215, 180},
    {0, 0, 128},     {128, 128, 128}, {90, 60, 200},   {100, 149, 237}, {189, 183, 107}, {255, 99, 71}};

std::array<uint8_t, 3> hsv_colour(double hue, double saturation, double value) {
  const double h = std::fmod(hue, 1.0) * 6.0, f = h - std::floor(h);
  const double p = value * (1 - saturation), q = value * (1 - saturation * f), t = value * (1 - saturation * (1 - f));
  double r = value, g = t, b = p;
  switch (static_cast<int>(h) % 6) {
    case 1: r = q, g = value, b = p; break;
    case 2: r = p, g = value, b = t; break;
    case 3: r = p, g = q, b = value; break;
    case 4: r = t, g = p, b = value; break;
    case 5: r = value, g = p, b = q; break;
    default: break;
  }
  auto byte = [](double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); };
  return {byte(r), byte(g), byte(b)};
}

Rgb rgb(const std::array<uint8_t, 3>& c) { return {c[0], c[1], c[2]}; }
uint8_t unit_byte(float v) { return static_cast<uint8_t>(std::lround(std::clamp(std::isnan(v) ? 0.0f : v, 0.0f, 1.0f) * 255.0f)); }

// One (C,H,W) image of sample n as colours: 3 channels as RGB clamped to [0,1]; a depth modality
// through the turbo map over this image's valid (> 0) range, holes black; anything else as grey,
// the first channel stretched over this image's range.
std::vector<Rgb> image_colours(const std::string& modality, const float* x, int64_t channels, int64_t pixels) {
  std::vector<Rgb> out(static_cast<size_t>(pixels));
  if (channels == 3) {
    for (int64_t i = 0; i < pixels; ++i) out[i] = {unit_byte(x[i]), unit_byte(x[pixels + i]), unit_byte(x[2 * pixels + i])};
    return out;
  }
  const bool depth = modality.find("depth") != std::string::npos;
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (int64_t i = 0; i < pixels; ++i) {
    if (std::isfinite(x[i]) && (!depth || x[i] > 0.0f)) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  }
  const float span = hi > lo ? hi - lo : 1.0f;
  for (int64_t i = 0; i < pixels; ++i) {
    const bool valid = std::isfinite(x[i]) && (!depth || x[i] > 0.0f);
    const float t = valid ? (x[i] - lo) / span : 0.0f;
    if (depth) {
      out[i] = valid ? turbo_colour(t) : colours::kBlack;
    } else {
      const uint8_t v = unit_byte(t);
      out[i] = {v, v, v};
    }
  }
  return out;
}

std::vector<Rgb> label_colours(const int64_t* labels, int64_t pixels) {
  std::vector<Rgb> out(static_cast<size_t>(pixels));
  for (int64_t i = 0; i < pixels; ++i) out[i] = rgb(class_colour(labels[i]));
  return out;
}

void draw_tile(Canvas& canvas, int x0, int y0, const std::vector<Rgb>& colours, int64_t height, int64_t width, int64_t zoom) {
  for (int64_t y = 0; y < height * zoom; ++y) {
    for (int64_t x = 0; x < width * zoom; ++x) {
      canvas.set(static_cast<int>(x0 + x), static_cast<int>(y0 + y), colours[(y / zoom) * width + x / zoom]);
    }
  }
}

}  // namespace

std::array<uint8_t, 3> class_colour(int64_t c) {
  if (c < 0 || c == data::kIgnoreLabel) return {0, 0, 0};
  const auto listed = static_cast<int64_t>(std::size(kPalette));
  if (c < listed) return kPalette[c];
  return hsv_colour(0.61803398875 * static_cast<double>(c - listed), 0.75, c % 2 ? 0.95 : 0.7);
}

data::Image colourise_labels(const Tensor& label_map) {
  check_dtype("colourise_labels", "label_map", label_map, DType::Int64);
  check_ndim("colourise_labels", "label_map", label_map, 2);
  const Tensor cpu = label_map.to(Device::CPU);
  const int64_t* labels = cpu.data<int64_t>();
  data::Image image;
  image.height = cpu.dim(0), image.width = cpu.dim(1), image.channels = 3, image.bit_depth = 8;
  image.pixels.resize(static_cast<size_t>(cpu.numel()) * 3);
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    const auto c = class_colour(labels[i]);
    image.pixels[3 * i] = c[0], image.pixels[3 * i + 1] = c[1], image.pixels[3 * i + 2] = c[2];
  }
  return image;
}

int64_t seg_grid_zoom(int64_t height, int64_t width) {
  const int64_t longer = std::max<int64_t>(1, std::max(height, width));
  return std::max<int64_t>(1, (128 + longer - 1) / longer);
}

void write_segmentation_grid(const std::vector<std::string>& modality_names, const std::vector<Tensor>& images,
                             const Tensor& labels, const std::vector<std::pair<std::string, Tensor>>& predictions,
                             int64_t num_classes, const std::string& png_path) {
  const char* op = "write_segmentation_grid";
  XMKD_CHECK(modality_names.size() == images.size(), op, ": ", modality_names.size(), " modality names for ",
             images.size(), " image tensors");
  check_dtype(op, "labels", labels, DType::Int64);
  check_ndim(op, "labels", labels, 3);
  const int64_t n = labels.dim(0), height = labels.dim(1), width = labels.dim(2);
  XMKD_CHECK(n > 0 && height > 0 && width > 0, op, ": no samples to draw (labels ", shape_str(labels.shape()), ")");
  std::vector<Tensor> cpu_images;
  for (size_t m = 0; m < images.size(); ++m) {
    check_dtype(op, "images", images[m], DType::Float32);
    const Shape& s = images[m].shape();
    XMKD_CHECK(s.size() == 4 && s[0] == n && s[2] == height && s[3] == width, op, ": images of '", modality_names[m],
               "' are ", shape_str(s), ", expected (", n, ", C, ", height, ", ", width, ") like the labels");
    cpu_images.push_back(images[m].to(Device::CPU));
  }
  std::vector<Tensor> cpu_predictions;
  for (const auto& [name, p] : predictions) {
    check_dtype(op, "predictions", p, DType::Int64);
    XMKD_CHECK(p.shape() == labels.shape(), op, ": prediction '", name, "' is ", shape_str(p.shape()),
               ", expected the labels' shape ", shape_str(labels.shape()));
    cpu_predictions.push_back(p.to(Device::CPU));
  }
  const Tensor cpu_labels = labels.to(Device::CPU);
  (void)num_classes;   // the palette is fixed: class c has the same colour in every picture

  std::vector<std::string> titles = modality_names;
  titles.push_back("ground truth");
  for (const auto& [name, p] : predictions) titles.push_back(name);
  const int64_t zoom = seg_grid_zoom(height, width);
  const int64_t tile_w = width * zoom, tile_h = height * zoom, cols = static_cast<int64_t>(titles.size());
  Canvas canvas(static_cast<int>(cols * tile_w + (cols + 1) * kSegGridGap),
                static_cast<int>(kSegGridCaption + n * tile_h + (n + 1) * kSegGridGap), colours::kWhite);
  auto column_x = [&](int64_t c) { return static_cast<int>(kSegGridGap + c * (tile_w + kSegGridGap)); };
  for (int64_t c = 0; c < cols; ++c) {
    const std::string title = fit_text(titles[c], static_cast<int>(tile_w));
    canvas.text(column_x(c) + static_cast<int>(tile_w - text_width(title)) / 2, static_cast<int>(kSegGridCaption - 10),
                title, {40, 40, 40});
  }
  const int64_t pixels = height * width;
  for (int64_t i = 0; i < n; ++i) {
    const int y = static_cast<int>(kSegGridCaption + kSegGridGap + i * (tile_h + kSegGridGap));
    int64_t c = 0;
    for (size_t m = 0; m < cpu_images.size(); ++m) {
      const int64_t channels = cpu_images[m].dim(1);
      const float* x = cpu_images[m].data<float>() + i * channels * pixels;
      draw_tile(canvas, column_x(c++), y, image_colours(modality_names[m], x, channels, pixels), height, width, zoom);
    }
    draw_tile(canvas, column_x(c++), y, label_colours(cpu_labels.data<int64_t>() + i * pixels, pixels), height, width, zoom);
    for (const Tensor& p : cpu_predictions) {
      draw_tile(canvas, column_x(c++), y, label_colours(p.data<int64_t>() + i * pixels, pixels), height, width, zoom);
    }
  }
  canvas.save_png(png_path);
}

}  // namespace xmkd::train
