// Decoding goes through stb_image (PNG, JPEG, BMP), from memory, so that one read of the file
// serves both the bit-depth probe and the decode. 8-bit PNGs are written by stb_image_write with
// zlib as its compressor; 16-bit PNGs (stb_image_write has no such path) are encoded here.
#include "data/image_io.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "data/reader_support.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace {

// stb_image_write's own deflate is slow and weak; zlib's is neither. zlib's default level (6)
// stands in for stb's `quality` (8 by default), which costs more time than it saves bytes. The
// buffer returned must be freed with free() (STBIW_FREE).
unsigned char* zlib_compress_for_stb(unsigned char* data, int data_len, int* out_len, int /*quality*/) {
  uLongf bound = compressBound(static_cast<uLong>(data_len));
  auto* out = static_cast<unsigned char*>(std::malloc(bound));
  if (!out) return nullptr;
  if (compress2(out, &bound, data, static_cast<uLong>(data_len), Z_DEFAULT_COMPRESSION) != Z_OK || bound > INT_MAX) {
    std::free(out);
    return nullptr;
  }
  *out_len = static_cast<int>(bound);
  return out;
}

// stb copies zero bytes from or to a null pointer in places (an empty IDAT chunk before any data),
// which memcpy's contract leaves undefined; routed through here, a zero-length copy does nothing.
void* memcpy_allowing_empty(void* dst, const void* src, size_t n) { return n ? std::memcpy(dst, src, n) : dst; }

}  // namespace

// <cstring> is already included: the macro changes stb's calls, not memcpy's declaration.
#define memcpy(dst, src, n) memcpy_allowing_empty(dst, src, n)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
// Not PNM: stb 2.27 parses PNM header numbers with unchecked signed overflow.
// No dataset image is wider or taller than this; a header that says otherwise is corrupt.
#define STBI_MAX_DIMENSIONS (1 << 16)
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBIW_ZLIB_COMPRESS zlib_compress_for_stb
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#undef memcpy

namespace xmkd::data {
namespace {

const char* const kFormats = "a PNG, JPEG or BMP image";

std::string read_file_bytes(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  XMKD_CHECK(in, "cannot open ", what, " '", path, "': ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  XMKD_CHECK(size >= 0, "cannot read ", what, " '", path, "'");
  XMKD_CHECK(size <= INT_MAX, path, ": ", size, " bytes is larger than an image file xmkd reads (2 GiB)");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(bytes.data(), size);
  XMKD_CHECK(in, "read error in ", what, " '", path, "'");
  return bytes;
}

// stb takes a file for a JPEG when it starts with SOI (0xFF 0xD8), fill bytes (0xFF) allowed
// before the 0xD8; returns the position after SOI, or 0 when the bytes are no JPEG to stb.
size_t jpeg_body_start(const unsigned char* d, size_t n) {
  if (n < 2 || d[0] != 0xFF) return 0;
  size_t pos = 1;
  while (pos < n && d[pos] == 0xFF) ++pos;
  return pos < n && d[pos] == 0xD8 ? pos + 1 : 0;
}

// stb_image 2.27's JPEG reader does not bound the symbol count of a Huffman table (DHT) at 256,
// and writes past its tables when a corrupt file declares more. Until the system stb has that
// check, every DHT segment it could parse is checked here first. The walk reads markers as stb
// does (0xFF, any 0xFF fill bytes, the marker byte; other bytes skipped), segments by their
// lengths, and after SOS skips entropy-coded data as stb's bit reader does: 0xFF (0xFF...) 0x00
// is a data byte, restart markers are passed over, any other marker ends the data. Where the
// walk and stb could differ, the walk reaches more bytes, never fewer.
void check_jpeg_huffman_tables(const std::string& bytes, const std::string& path) {
  const auto* d = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t pos = jpeg_body_start(d, n);
  if (pos == 0) return;
  while (pos + 1 < n) {
    if (d[pos] != 0xFF || d[pos + 1] == 0xFF || d[pos + 1] == 0x00) {   // junk and fill bytes
      ++pos;
      continue;
    }
    const unsigned marker = d[pos + 1];
    if (marker == 0xD9) return;                                             // EOI: stb stops here
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {             // no length field
      pos += 2;
      continue;
    }
    if (pos + 4 > n) return;
    const size_t length = static_cast<size_t>(d[pos + 2]) << 8 | d[pos + 3];
    if (marker == 0xC4) {
      // Like stb: a table is read whenever it starts inside the segment, even if it runs past it
      // (bytes past the end of the file read as 0).
      for (size_t t = pos + 4; t < pos + 2 + length && t < n;) {
        size_t symbols = 0;
        for (size_t i = 1; i <= 16 && t + i < n; ++i) symbols += d[t + i];
        XMKD_CHECK(symbols <= 256, path, ": cannot decode the image (corrupt JPEG: a Huffman table declares ", symbols,
                   " symbols, at most 256 exist)");
        t += 17 + symbols;
      }
    }
    pos += 2 + std::max<size_t>(length, 2);
    if (marker == 0xDA) {   // SOS: entropy-coded data follows
      while (pos < n) {
        if (d[pos] != 0xFF) {
          ++pos;
          continue;
        }
        size_t next = pos + 1;
        while (next < n && d[next] == 0xFF) ++next;
        if (next < n && (d[next] == 0x00 || (d[next] >= 0xD0 && d[next] <= 0xD7))) {
          pos = next + 1;   // a stuffed 0xFF data byte, or a restart marker
          continue;
        }
        pos = next - 1;     // the 0xFF before the marker that ends the data
        break;
      }
    }
  }
}

uint32_t be32_at(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// stb sizes its buffers from a PNG's chunk lengths and header before it has the data, so a corrupt
// 100-byte file could make it allocate gigabytes. Checked first: every chunk lies inside the file,
// and the compressed data (at most 1032:1 for deflate) can hold the pixels the header declares.
void check_png_sizes(const std::string& bytes, const std::string& path) {
  const auto* d = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t n = bytes.size();
  uint64_t pos = 8, compressed = 0, raw = 0;   // after the signature
  while (pos + 8 <= n) {
    const uint64_t length = be32_at(d + pos);
    const std::string type(reinterpret_cast<const char*>(d + pos + 4), 4);
    XMKD_CHECK(length <= n - pos - 8, path, ": cannot decode the image (corrupt PNG: a chunk at byte ", pos,
               " declares ", length, " bytes, only ", n - pos - 8, " follow)");
    if (type == "IHDR" && length >= 13) {
      static const int kSamplesPerPixel[7] = {1, 0, 3, 1, 2, 0, 4};   // by colour type
      const uint64_t width = be32_at(d + pos + 8), height = be32_at(d + pos + 12), depth = d[pos + 16];
      const unsigned colour = d[pos + 17];
      if (colour <= 6 && depth <= 16 && width <= (1u << 24) && height <= (1u << 24)) raw = height * (1 + (width * kSamplesPerPixel[colour] * depth + 7) / 8);
    }
    if (type == "IDAT") compressed += length;
    if (type == "IEND") break;
    pos += 12 + length;
  }
  XMKD_CHECK(raw <= 1032 * compressed + 1024, path, ": cannot decode the image (corrupt PNG: ", compressed,
             " bytes of compressed data cannot hold the ", raw, " bytes of pixels its header declares)");
}

void check_image_to_write(const char* fn, const std::string& path, const Image& image) {
  XMKD_CHECK(image.channels >= 1 && image.channels <= 4, fn, "(", path, "): channels must be 1 (grey), 2 (grey+alpha), ",
             "3 (RGB) or 4 (RGBA), got ", image.channels);
  XMKD_CHECK(image.height >= 1 && image.width >= 1 && image.height <= INT32_MAX / 8 && image.width <= INT32_MAX / 8, fn,
             "(", path, "): bad image size ", image.width, "x", image.height);
  const int64_t expected = image.height * image.width * image.channels;
  XMKD_CHECK(static_cast<int64_t>(image.pixels.size()) == expected, fn, "(", path, "): ", image.pixels.size(),
             " pixel values for a ", image.width, "x", image.height, "x", image.channels, " image (expected ", expected, ")");
}

void write_all(const std::string& path, const std::string& bytes) {
  io::AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

void append_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// A PNG chunk: length, type, data, CRC of type + data.
void append_chunk(std::string& out, const char type[4], const unsigned char* data, size_t size) {
  append_be32(out, static_cast<uint32_t>(size));
  out.append(type, 4);
  out.append(reinterpret_cast<const char*>(data), size);
  uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(type), 4);
  if (size > 0) crc = crc32(crc, data, static_cast<uInt>(size));
  append_be32(out, static_cast<uint32_t>(crc));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

// Filters one row of bytes with PNG filter `type` (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth);
// `prior` is the row above (zeros for the first row), `bpp` the bytes per pixel.
void filter_row(int type, const unsigned char* row, const unsigned char* prior, size_t n, size_t bpp, unsigned char* out) {
  for (size_t i = 0; i < n; ++i) {
    const int a = i >= bpp ? row[i - bpp] : 0, b = prior[i], c = i >= bpp ? prior[i - bpp] : 0;
    int predicted = 0;
    switch (type) {
      case 1: predicted = a; break;
      case 2: predicted = b; break;
      case 3: predicted = (a + b) / 2; break;
      case 4: predicted = paeth(a, b, c); break;
      default: break;
    }
    out[i] = static_cast<unsigned char>(row[i] - predicted);
  }
}

}  // namespace

ImageHeader read_image_header(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  XMKD_CHECK(f, "cannot open image file '", path, "': ", std::strerror(errno));
  unsigned char first = 0;
  const bool jpeg = std::fread(&first, 1, 1, f) == 1 && first == 0xFF;   // possibly (see jpeg_body_start)
  std::rewind(f);
  int w = 0, h = 0, c = 0, ok = 0, is16 = 0;
  if (jpeg) {   // stb parses Huffman tables on the way to the size: check them first (see above)
    std::fclose(f);
    const std::string bytes = read_file_bytes(path, "image file");
    check_jpeg_huffman_tables(bytes, path);
    ok = stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h, &c);
  } else {
    ok = stbi_info_from_file(f, &w, &h, &c);
    is16 = ok ? stbi_is_16_bit_from_file(f) : 0;
    std::fclose(f);
  }
  XMKD_CHECK(ok, path, ": cannot read the image header (", stbi_failure_reason(), "); expected ", kFormats);
  return {h, w, c, is16 ? 16 : 8};
}

Image read_image(const std::string& path, int channels) {
  XMKD_CHECK(channels >= 0 && channels <= 4, "read_image(", path, "): channels must be 0 (as stored), 1, 2, 3 or 4, got ",
             channels);
  const std::string bytes = read_file_bytes(path, "image file");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  check_jpeg_huffman_tables(bytes, path);
  if (bytes.size() >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) check_png_sizes(bytes, path);
  if (bytes.size() >= 2 && data[0] == 'B' && data[1] == 'M') {
    // stb decodes a BMP cut short as if zeros followed, so a corrupt size in a tiny file would
    // allocate and fill up to a gigabyte; an uncompressed BMP has at least one bit per pixel.
    int bw = 0, bh = 0, bc = 0;
    if (stbi_info_from_memory(data, len, &bw, &bh, &bc))
      XMKD_CHECK(static_cast<uint64_t>(bw) * static_cast<uint64_t>(bh) <= 8 * static_cast<uint64_t>(len), path,
                 ": cannot decode the image (the BMP header declares ", bw, "x", bh, " pixels, more than its ", len,
                 " bytes can hold: truncated or corrupt)");
  }
  const bool is16 = stbi_is_16_bit_from_memory(data, len) != 0;
  int w = 0, h = 0, stored = 0;
  Image image;
  if (is16) {
    std::unique_ptr<stbi_us, void (*)(void*)> px(stbi_load_16_from_memory(data, len, &w, &h, &stored, channels),
                                                 stbi_image_free);
    XMKD_CHECK(px, path, ": cannot decode the image (", stbi_failure_reason(), "); expected ", kFormats);
    image.channels = channels ? channels : stored;
    image.pixels.assign(px.get(), px.get() + static_cast<size_t>(w) * h * image.channels);
  } else {
    std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &stored, channels),
                                                 stbi_image_free);
    XMKD_CHECK(px, path, ": cannot decode the image (", stbi_failure_reason(), "); expected ", kFormats);
    image.channels = channels ? channels : stored;
    image.pixels.assign(px.get(), px.get() + static_cast<size_t>(w) * h * image.channels);
  }
  image.height = h;
  image.width = w;
  image.bit_depth = is16 ? 16 : 8;
  return image;
}

void write_png8(const std::string& path, const Image& image) {
  check_image_to_write("write_png8", path, image);
  std::vector<unsigned char> bytes(image.pixels.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (image.pixels[i] > 255) {
      const int64_t pixel = static_cast<int64_t>(i) / image.channels;
      fail("write_png8(", path, "): value ", image.pixels[i], " at pixel (x=", pixel % image.width, ", y=",
           pixel / image.width, ") does not fit in 8 bits; use write_png16");
    }
    bytes[i] = static_cast<unsigned char>(image.pixels[i]);
  }
  std::string encoded;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  const int w = static_cast<int>(image.width), h = static_cast<int>(image.height), c = static_cast<int>(image.channels);
  XMKD_CHECK(stbi_write_png_to_func(append, &encoded, w, h, c, bytes.data(), w * c), "write_png8(", path,
             "): PNG encoding failed");
  write_all(path, encoded);
}

void write_png16(const std::string& path, const Image& image) {
  check_image_to_write("write_png16", path, image);
  const size_t width = static_cast<size_t>(image.width), channels = static_cast<size_t>(image.channels);
  const size_t bpp = 2 * channels, row_bytes = width * bpp;

  // Rows of big-endian samples, each filtered with whichever of the five PNG filters gives the
  // smallest sum of absolute (signed) residuals, the usual heuristic for a good compression ratio.
  std::vector<unsigned char> filtered((row_bytes + 1) * static_cast<size_t>(image.height));
  std::vector<unsigned char> row(row_bytes), prior(row_bytes, 0), best(row_bytes), trial(row_bytes);
  for (int64_t y = 0; y < image.height; ++y) {
    const uint16_t* src = image.pixels.data() + static_cast<size_t>(y) * width * channels;
    for (size_t i = 0; i < width * channels; ++i) {
      row[2 * i] = static_cast<unsigned char>(src[i] >> 8);
      row[2 * i + 1] = static_cast<unsigned char>(src[i] & 0xff);
    }
    int best_type = 0;
    uint64_t best_cost = UINT64_MAX;
    for (int type = 0; type <= 4; ++type) {
      filter_row(type, row.data(), prior.data(), row_bytes, bpp, trial.data());
      uint64_t cost = 0;
      for (unsigned char v : trial) cost += static_cast<uint64_t>(std::abs(static_cast<int>(static_cast<signed char>(v))));
      if (cost < best_cost) {
        best_cost = cost;
        best_type = type;
        best.swap(trial);
      }
    }
    unsigned char* dst = filtered.data() + static_cast<size_t>(y) * (row_bytes + 1);
    dst[0] = static_cast<unsigned char>(best_type);
    std::memcpy(dst + 1, best.data(), row_bytes);
    prior.swap(row);
  }

  uLongf compressed_size = compressBound(static_cast<uLong>(filtered.size()));
  std::vector<unsigned char> compressed(compressed_size);
  XMKD_CHECK(compress2(compressed.data(), &compressed_size, filtered.data(), static_cast<uLong>(filtered.size()), 6) == Z_OK,
             "write_png16(", path, "): zlib compression failed");

  static const unsigned char kColorType[5] = {0, 0, 4, 2, 6};   // by channel count: grey, grey+alpha, RGB, RGBA
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  append_be32(ihdr, static_cast<uint32_t>(image.width));
  append_be32(ihdr, static_cast<uint32_t>(image.height));
  ihdr += std::string{16, static_cast<char>(kColorType[channels]), 0, 0, 0};   // depth, colour, compression, filter, interlace
  append_chunk(png, "IHDR", reinterpret_cast<const unsigned char*>(ihdr.data()), ihdr.size());
  const size_t kMaxChunk = size_t{1} << 30;
  for (size_t offset = 0; offset < compressed_size; offset += kMaxChunk)
    append_chunk(png, "IDAT", compressed.data() + offset, std::min<size_t>(kMaxChunk, compressed_size - offset));
  append_chunk(png, "IEND", nullptr, 0);
  write_all(path, png);
}

}  // namespace xmkd::data
