// `xmkd datagen`: the synthetic RGB-D benchmark (docs/data.md) written to a directory
// (PNG files + manifest.json), drawn as a grid of examples, or timed in memory.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "data/image_io.h"
#include "data/synthetic.h"
#include "data/synthetic_scene.h"
#include "tools/train/canvas.h"
#include "tools/train/ui.h"
#include "tools/xmkd/commands.h"

namespace xmkd::cli {
namespace {

using data::Image;

struct DatagenOptions {
  std::string task = "classification";
  int64_t size = 64;
  int64_t count = 2000;
  uint64_t seed = 0;
  int64_t rgb_samples = 1;
  std::string out, grid;
  int64_t grid_per_class = 2;
  bool bench = false;
};

using train::Rgb;

// Floor, wall, then the 8 object classes in class order (warm box, cool box, warm cylinder, ...).
const Rgb kLabelPalette[] = {{140, 110, 80},  {205, 205, 205}, {214, 39, 40},   {31, 119, 180}, {255, 127, 14},
                              {23, 190, 207},  {188, 189, 34},  {148, 103, 189}, {227, 119, 194}, {44, 160, 44}};
// The depth panels' colour map covers 0.5-5 m in 10 cm bands: the band edges draw depth contours
// (they show the shapes' relief) and flat bands keep the committed PNG small.
constexpr float kGridDepthMin = 0.5f, kGridDepthMax = 5.0f, kGridDepthBand = 0.1f;

void put(Image& image, int64_t y, int64_t x, Rgb c) {
  uint16_t* p = &image.pixels[static_cast<size_t>((y * image.width + x) * 3)];
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

// Columns: the scene classes in order. Rows: per_class examples of each, each as three rows of
// panels: RGB, depth (banded turbo over 0.5-5 m, holes black), label map (kLabelPalette).
void write_grid(const DatagenOptions& o, const std::string& path) {
  namespace syn = data::synthetic;
  data::SyntheticOptions options;
  options.task = data::Task::Classification;
  options.size = o.size;
  options.seed = o.seed;
  options.rgb_samples = o.rgb_samples;
  options.count = 64 * syn::kSceneClasses * o.grid_per_class;   // plenty to find per_class of each
  const auto dataset = data::synthetic_dataset(options);
  const std::vector<int64_t> labels = dataset->labels();

  const int64_t s = o.size, gap = 2, columns = syn::kSceneClasses, rows = 3 * o.grid_per_class;
  Image grid{rows * (s + gap) + gap, columns * (s + gap) + gap, 3, 8, {}};
  grid.pixels.assign(static_cast<size_t>(grid.height * grid.width * 3), 255);
  for (int64_t c = 0; c < columns; ++c) {
    int64_t found = 0;
    for (int64_t i = 0; i < options.count && found < o.grid_per_class; ++i) {
      if (labels[i] != c) continue;
      const data::Sample sample = dataset->get(i);
      const float* rgb = sample.images[0].data<float>();
      const float* depth = sample.images[1].data<float>();
      const int64_t* label = sample.label_maps[0].data<int64_t>();
      const int64_t x0 = gap + c * (s + gap);
      for (int64_t panel = 0; panel < 3; ++panel) {
        const int64_t y0 = gap + (3 * found + panel) * (s + gap);
        for (int64_t y = 0; y < s; ++y) {
          for (int64_t x = 0; x < s; ++x) {
            const int64_t p = y * s + x;
            Rgb colour;
            if (panel == 0) {
              auto byte = [&](int ch) { return static_cast<uint8_t>(std::lround(rgb[ch * s * s + p] * 255.0f)); };
              colour = {byte(0), byte(1), byte(2)};
            } else if (panel == 1) {
              const float band = std::floor(depth[p] / kGridDepthBand) * kGridDepthBand;
              colour = depth[p] > 0 ? train::turbo_colour((band - kGridDepthMin) / (kGridDepthMax - kGridDepthMin)) : Rgb{0, 0, 0};
            } else {
              colour = kLabelPalette[std::clamp<int64_t>(label[p], 0, syn::kPixelClasses - 1)];
            }
            put(grid, y0 + y, x0 + x, colour);
          }
        }
      }
      ++found;
    }
    XMKD_CHECK(found == o.grid_per_class, "datagen --grid: found only ", found, " samples of class ", c);
  }
  data::write_png8(path, grid);
  std::printf("wrote %s: %lld x %lld; columns = classes", path.c_str(), static_cast<long long>(grid.width),
              static_cast<long long>(grid.height));
  for (int64_t c = 0; c < columns; ++c) std::printf("%s %s", c ? "," : "", syn::class_name(c).c_str());
  std::printf("; rows = RGB, depth, labels for %lld examples of each\n", static_cast<long long>(o.grid_per_class));
}

void run(const DatagenOptions& o) {
  data::SyntheticOptions options;
  options.task = data::parse_task(o.task);
  options.size = o.size;
  options.count = o.count;
  options.seed = o.seed;
  options.rgb_samples = o.rgb_samples;
  XMKD_CHECK(!o.out.empty() || !o.grid.empty() || o.bench,
             "datagen: nothing to do; give --out DIR, --grid FILE.png or --bench");
  if (o.bench) {
    const auto dataset = data::synthetic_dataset(options);
    const auto start = std::chrono::steady_clock::now();
    int64_t checksum = 0;
    for (int64_t i = 0; i < options.count; ++i) checksum += dataset->get(i).label_maps[0].data<int64_t>()[0];
    const double t = train::seconds_since(start);
    std::printf("generated %lld samples of %lldx%lld in memory in %.3f s, one thread: %.0f samples/s, %.3f ms each "
                "(checksum %lld)\n",
                static_cast<long long>(options.count), static_cast<long long>(o.size), static_cast<long long>(o.size),
                t, options.count / t, 1000.0 * t / options.count, static_cast<long long>(checksum));
  }
  if (!o.out.empty()) {
    const auto start = std::chrono::steady_clock::now();
    data::write_synthetic(options, o.out);
    const double t = train::seconds_since(start);
    std::printf("wrote %lld %s samples of %lldx%lld (seed %llu) to %s in %.2f s (%.0f samples/s)\n",
                static_cast<long long>(options.count), o.task.c_str(), static_cast<long long>(o.size),
                static_cast<long long>(o.size), static_cast<unsigned long long>(o.seed), o.out.c_str(), t,
                options.count / t);
  }
  if (!o.grid.empty()) write_grid(o, o.grid);
}

}  // namespace

void register_datagen(CLI::App& app) {
  auto options = std::make_shared<DatagenOptions>();
  auto* cmd = app.add_subcommand("datagen", "Generate the synthetic RGB-D benchmark (docs/data.md)");
  cmd->add_option("--task", options->task, "classification (8 scene classes) or segmentation (10 pixel classes)")
      ->check(CLI::IsMember({"classification", "segmentation"}))
      ->capture_default_str();
  cmd->add_option("--size", options->size, "image size S (images are S x S)")->capture_default_str();
  cmd->add_option("--count", options->count, "number of samples")->capture_default_str();
  cmd->add_option("--seed", options->seed, "dataset seed: sample i of seed K is always the same")->capture_default_str();
  cmd->add_option("--rgb-samples", options->rgb_samples,
                  "RGB rays per pixel along each axis (anti-aliasing; depth and labels use the centre ray)")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  cmd->add_option("--out", options->out, "write rgb/, depth/, labels/ PNGs and manifest.json into this directory");
  cmd->add_option("--grid", options->grid, "write a PNG grid of examples of every class (RGB, depth, labels)");
  cmd->add_option("--grid-per-class", options->grid_per_class, "examples per class in the grid")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_flag("--bench", options->bench, "time generating --count samples in memory (one thread)");
  cmd->callback([options] { run(*options); });
}

}  // namespace xmkd::cli
