// libFuzzer target: read_image_header and read_image (stb: PNG, JPEG, BMP) on any bytes.
#include "data/image_io.h"
#include "engine/error.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = xmkd::fuzz::scratch_path("input.img");
  xmkd::fuzz::write_input(path, data, size);
  try {
    xmkd::data::read_image_header(path);
    xmkd::data::read_image(path, 3);
  } catch (const xmkd::Error&) {
  }
  return 0;
}
