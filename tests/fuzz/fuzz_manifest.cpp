// libFuzzer target: open_manifest (JSON) on any bytes, beside two valid samples (rgb, depth,
// label map) that a manifest may refer to as rgb/0.png, depth/0.png, labels/0.png and so on.
#include "data/datasets.h"
#include "data/image_io.h"
#include "engine/error.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

xmkd::data::Image image(int64_t channels, int bits, uint16_t value) {
  xmkd::data::Image im;
  im.height = im.width = 4;
  im.channels = channels;
  im.bit_depth = bits;
  im.pixels.assign(static_cast<size_t>(16 * channels), value);
  return im;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(xmkd::fuzz::scratch_path("m.json")).parent_path();
  for (const char* sub : {"rgb", "depth", "labels"}) fs::create_directories(dir / sub);
  for (int i = 0; i < 2; ++i) {
    const std::string n = std::to_string(i) + ".png";
    xmkd::data::write_png8((dir / "rgb" / n).string(), image(3, 8, 100));
    xmkd::data::write_png16((dir / "depth" / n).string(), image(1, 16, 1500));
    xmkd::data::write_png8((dir / "labels" / n).string(), image(1, 8, static_cast<uint16_t>(i)));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = xmkd::fuzz::scratch_path("m.json");
  xmkd::fuzz::write_input(path, data, size);
  try {
    auto ds = xmkd::data::open_manifest(path);
    for (int64_t i = 0; i < ds->size() && i < 4; ++i) ds->get(i);
  } catch (const xmkd::Error&) {
  }
  return 0;
}
