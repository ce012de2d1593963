// libFuzzer target: load_npy on any bytes.
#include "engine/error.h"
#include "engine/io/npy.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = xmkd::fuzz::scratch_path("input.npy");
  xmkd::fuzz::write_input(path, data, size);
  try {
    xmkd::io::load_npy(path);
  } catch (const xmkd::Error&) {
  }
  return 0;
}
