// libFuzzer target: load_safetensors on any bytes.
#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = xmkd::fuzz::scratch_path("input.safetensors");
  xmkd::fuzz::write_input(path, data, size);
  try {
    std::map<std::string, std::string> metadata;
    xmkd::io::load_safetensors(path, &metadata);
  } catch (const xmkd::Error&) {
  }
  return 0;
}
