// What the file readers (manifest, NYU Depth v2, SUN RGB-D) share: decoded images to float
// tensors, label maps to int64 tensors with their range checked, and small text-parsing helpers.
// Every error names the file it is about.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "engine/tensor.h"

namespace xmkd::data {

// Channels [c0, c0 + channels) of columns [x0, x0 + width) as a float32 (channels, H, width) tensor,
// each stored value times `scale`. A 1-channel image gives any number of channels by repetition
// (grey as RGB).
Tensor image_to_tensor(const Image& image, float scale, int64_t x0, int64_t width, int64_t c0, int64_t channels);
inline Tensor image_to_tensor(const Image& image, float scale, int64_t channels) {
  return image_to_tensor(image, scale, 0, image.width, 0, channels);
}

// The stored-value-to-unit factor when a dataset does not give one: 8-bit and 16-bit values to [0, 1].
inline float unit_scale(int bit_depth) { return bit_depth == 16 ? 1.0f / 65535.0f : 1.0f / 255.0f; }

// An 8-bit single-channel label map as int64 (H, W). With shift_void (NYU Depth v2), stored 0
// (void) becomes 255 and every other value v becomes v - 1. A value that is neither 255 nor below
// num_classes is an error naming the file, the pixel and the value.
Tensor decode_label_map(const Image& image, const std::string& path, int64_t num_classes, bool shift_void = false);
// Reads the file and decodes it as above; the file must be an 8-bit grey image.
Tensor read_label_map(const std::string& path, int64_t num_classes, bool shift_void = false);
// Header check for a label map at open time: 8-bit, one channel. Returns the header.
ImageHeader check_label_map_header(const std::string& path);

// Whether a file with `stored` channels can serve a modality of `wanted` channels: the same count,
// or one more when the extra channel is an alpha channel to drop (grey+alpha, RGBA).
bool channels_compatible(int64_t stored, int64_t wanted);

// Strict integer parsing of a whole string (after trimming blanks); false on anything else.
bool parse_int64(const std::string& text, int64_t* value);
std::string trim(const std::string& text);
// The lines of a text file (without '\n' / '\r'); an error naming the file when it cannot be read.
std::vector<std::string> read_lines(const std::string& path, const char* what);
// `path` as given when absolute, otherwise relative to the directory of `base_file`.
std::string resolve_relative(const std::string& base_file, const std::string& path);

}  // namespace xmkd::data
