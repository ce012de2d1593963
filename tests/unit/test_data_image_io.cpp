// Image I/O: 8- and 16-bit PNG round trips through our writers and stb's decoder, the structure
// of the 16-bit PNGs we encode (chunks, CRCs, header fields), channel conversion, header probes,
// and every failure naming the file.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <set>

#include "data/image_io.h"
#include "tests/unit/data_test_files.h"

namespace xmkd {
namespace {

using data::Image;
using testing::TempDir;

uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t{static_cast<unsigned char>(s[at])} << 24) | (uint32_t{static_cast<unsigned char>(s[at + 1])} << 16) |
         (uint32_t{static_cast<unsigned char>(s[at + 2])} << 8) | static_cast<unsigned char>(s[at + 3]);
}

TEST(DataImageIo, Png8RoundTripsEveryChannelCount) {
  TempDir dir("img8");
  for (int64_t c = 1; c <= 4; ++c) {
    const Image image = testing::patterned_image(5, 7, c, 8, static_cast<uint32_t>(c));
    const std::string path = dir.file("c" + std::to_string(c) + ".png");
    data::write_png8(path, image);
    const Image back = data::read_image(path);
    EXPECT_EQ(back.height, 5);
    EXPECT_EQ(back.width, 7);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.bit_depth, 8);
    EXPECT_EQ(back.pixels, image.pixels) << c << " channels";
  }
}

TEST(DataImageIo, Png16RoundTripsExactlyIncludingExtremes) {
  TempDir dir("img16");
  for (int64_t c = 1; c <= 4; ++c) {
    Image image = testing::patterned_image(9, 13, c, 16, static_cast<uint32_t>(10 + c));
    image.pixels[0] = 0;
    image.pixels[1] = 65535;
    image.pixels[2] = 256;   // high byte 1, low byte 0: a byte-order mix-up would show
    image.pixels.back() = 255;
    const std::string path = dir.file("c" + std::to_string(c) + ".png");
    data::write_png16(path, image);
    const Image back = data::read_image(path);
    EXPECT_EQ(back.height, 9);
    EXPECT_EQ(back.width, 13);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.bit_depth, 16);
    EXPECT_EQ(back.pixels, image.pixels) << c << " channels";
  }
}

// Smooth ramps and edges make different rows pick different PNG filters (Sub, Up, Average,
// Paeth); a mistake in any of them would change the decoded values.
TEST(DataImageIo, Png16SmoothDepthMapRoundTripsThroughEveryFilter) {
  TempDir dir("img16ramp");
  Image image = testing::flat_image(40, 50, 1, 0, 16);
  for (int64_t y = 0; y < 40; ++y)
    for (int64_t x = 0; x < 50; ++x) {
      uint16_t v = static_cast<uint16_t>(800 + 37 * x + 11 * y);
      if (y % 7 == 3) v = static_cast<uint16_t>(60000 - 500 * x);   // rows that Sub suits
      if (x > 30 && y > 20) v = static_cast<uint16_t>(3000 + 3 * (x * y % 17));
      image.pixels[static_cast<size_t>(y * 50 + x)] = v;
    }
  const std::string path = dir.file("ramp.png");
  data::write_png16(path, image);
  EXPECT_EQ(data::read_image(path).pixels, image.pixels);

  // More than one filter type was chosen (byte 0 of each decompressed row).
  const std::string png = testing::read_bytes(path);
  const uint32_t idat_len = be32(png, 33);
  ASSERT_EQ(png.substr(37, 4), "IDAT");
  std::vector<unsigned char> raw(static_cast<size_t>(40 * (1 + 50 * 2)));
  uLongf raw_len = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(png.data() + 41), idat_len), Z_OK);
  ASSERT_EQ(raw_len, raw.size());
  std::set<int> filters;
  for (int64_t y = 0; y < 40; ++y) filters.insert(raw[static_cast<size_t>(y * 101)]);
  EXPECT_GE(filters.size(), 2u);
  for (int f : filters) EXPECT_LE(f, 4);
}

// The file is a well-formed PNG, not merely something stb accepts (stb skips CRCs): signature,
// IHDR with bit depth 16 and the colour type of the channel count, every chunk's CRC, IEND last.
TEST(DataImageIo, Png16FileStructureIsValidPng) {
  TempDir dir("img16struct");
  const int colour_type[5] = {-1, 0, 4, 2, 6};
  for (int64_t c = 1; c <= 4; ++c) {
    const std::string path = dir.file("s" + std::to_string(c) + ".png");
    data::write_png16(path, testing::patterned_image(3, 4, c, 16));
    const std::string png = testing::read_bytes(path);
    ASSERT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    size_t at = 8;
    std::vector<std::string> types;
    while (at + 12 <= png.size()) {
      const uint32_t len = be32(png, at);
      ASSERT_LE(at + 12 + len, png.size());
      const std::string type = png.substr(at + 4, 4);
      types.push_back(type);
      const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(png.data() + at + 4), 4 + len);
      EXPECT_EQ(be32(png, at + 8 + len), static_cast<uint32_t>(crc)) << "CRC of " << type;
      if (type == "IHDR") {
        ASSERT_EQ(len, 13u);
        EXPECT_EQ(be32(png, at + 8), 4u);    // width
        EXPECT_EQ(be32(png, at + 12), 3u);   // height
        EXPECT_EQ(png[at + 16], 16);         // bit depth
        EXPECT_EQ(png[at + 17], colour_type[c]);
        EXPECT_EQ(png[at + 18], 0);          // compression, filter, interlace
        EXPECT_EQ(png[at + 19], 0);
        EXPECT_EQ(png[at + 20], 0);
      }
      at += 12 + len;
    }
    EXPECT_EQ(at, png.size());
    ASSERT_GE(types.size(), 3u);
    EXPECT_EQ(types.front(), "IHDR");
    EXPECT_EQ(types[1], "IDAT");
    EXPECT_EQ(types.back(), "IEND");
  }
}

TEST(DataImageIo, ConvertsChannelsOnRequest) {
  TempDir dir("imgconv");
  Image rgb = testing::flat_image(2, 2, 3, 0);
  for (size_t p = 0; p < 4; ++p) {
    rgb.pixels[3 * p] = 200;
    rgb.pixels[3 * p + 1] = 100;
    rgb.pixels[3 * p + 2] = 50;
  }
  const std::string rgb_path = dir.file("rgb.png");
  data::write_png8(rgb_path, rgb);
  const Image grey = data::read_image(rgb_path, 1);
  EXPECT_EQ(grey.channels, 1);
  // The decoder's luma: (77 r + 150 g + 29 b) >> 8.
  EXPECT_EQ(grey.pixels[0], (77 * 200 + 150 * 100 + 29 * 50) >> 8);
  const Image rgba = data::read_image(rgb_path, 4);
  EXPECT_EQ(rgba.channels, 4);
  EXPECT_EQ((std::vector<uint16_t>(rgba.pixels.begin(), rgba.pixels.begin() + 4)), (std::vector<uint16_t>{200, 100, 50, 255}));

  const std::string grey_path = dir.file("grey16.png");
  data::write_png16(grey_path, testing::flat_image(2, 3, 1, 4321, 16));
  const Image as_rgb = data::read_image(grey_path, 3);
  EXPECT_EQ(as_rgb.channels, 3);
  EXPECT_EQ(as_rgb.bit_depth, 16);
  for (uint16_t v : as_rgb.pixels) EXPECT_EQ(v, 4321);

  testing::expect_error_with([&] { data::read_image(rgb_path, 5); }, {rgb_path, "channels"});
}

// tests/fixtures/data_sample_16x16.jpg: 16x16 RGB with R = 16 x, G = 16 y, B = (x y) mod 256,
// JPEG quality 90 (written once by stb_image_write).
TEST(DataImageIo, ReadsJpeg) {
  const std::string path = std::string(XMKD_FIXTURE_DIR) + "/data_sample_16x16.jpg";
  const Image image = data::read_image(path);
  ASSERT_EQ(image.height, 16);
  ASSERT_EQ(image.width, 16);
  ASSERT_EQ(image.channels, 3);
  EXPECT_EQ(image.bit_depth, 8);
  // Lossy, but the smooth red and green ramps survive: column / row means within 8 of the ramp.
  for (int64_t i = 0; i < 16; ++i) {
    double red = 0.0, green = 0.0;
    for (int64_t j = 0; j < 16; ++j) {
      red += image.pixels[static_cast<size_t>((j * 16 + i) * 3)];
      green += image.pixels[static_cast<size_t>((i * 16 + j) * 3 + 1)];
    }
    EXPECT_NEAR(red / 16.0, 16.0 * static_cast<double>(i), 8.0) << "column " << i;
    EXPECT_NEAR(green / 16.0, 16.0 * static_cast<double>(i), 8.0) << "row " << i;
  }
  const data::ImageHeader header = data::read_image_header(path);
  EXPECT_EQ(header.channels, 3);
  EXPECT_EQ(header.bit_depth, 8);
}

std::string le_bytes(uint32_t v, int bytes) {
  std::string out;
  for (int k = 0; k < bytes; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  return out;
}

// A 24-bit BMP: 54-byte header, rows bottom-up in B, G, R order, each padded to 4 bytes.
std::string bmp24(uint32_t width, uint32_t height, const std::string& rows) {
  return "BM" + le_bytes(54 + static_cast<uint32_t>(rows.size()), 4) + le_bytes(0, 4) + le_bytes(54, 4) + le_bytes(40, 4) +
         le_bytes(width, 4) + le_bytes(height, 4) + le_bytes(1, 2) + le_bytes(24, 2) + le_bytes(0, 4) +
         le_bytes(static_cast<uint32_t>(rows.size()), 4) + le_bytes(2835, 4) + le_bytes(2835, 4) + le_bytes(0, 4) +
         le_bytes(0, 4) + rows;
}

TEST(DataImageIo, ReadsBmp) {
  TempDir dir("imgbmp");
  // 2x2: bottom row (stored first) blue, green; top row red, white. 6 bytes + 2 padding per row.
  const std::string rows = std::string("\xff\x00\x00\x00\xff\x00\x00\x00", 8) + std::string("\x00\x00\xff\xff\xff\xff\x00\x00", 8);
  const std::string path = dir.file("a.bmp");
  testing::write_bytes(path, bmp24(2, 2, rows));
  const Image image = data::read_image(path);
  ASSERT_EQ(image.channels, 3);
  ASSERT_EQ(image.height, 2);
  EXPECT_EQ(image.pixels, (std::vector<uint16_t>{255, 0, 0, 255, 255, 255, 0, 0, 255, 0, 255, 0}));
}

TEST(DataImageIo, HeaderProbeMatchesTheFile) {
  TempDir dir("imghdr");
  const std::string p8 = dir.file("a.png"), p16 = dir.file("b.png");
  data::write_png8(p8, testing::patterned_image(6, 9, 3, 8));
  data::write_png16(p16, testing::patterned_image(4, 5, 1, 16));
  const data::ImageHeader h8 = data::read_image_header(p8), h16 = data::read_image_header(p16);
  EXPECT_EQ(h8.height, 6);
  EXPECT_EQ(h8.width, 9);
  EXPECT_EQ(h8.channels, 3);
  EXPECT_EQ(h8.bit_depth, 8);
  EXPECT_EQ(h16.height, 4);
  EXPECT_EQ(h16.width, 5);
  EXPECT_EQ(h16.channels, 1);
  EXPECT_EQ(h16.bit_depth, 16);
}

TEST(DataImageIo, WritesAtomicallyAndOverwrites) {
  TempDir dir("imgatomic");
  const std::string path = dir.file("x.png");
  data::write_png8(path, testing::flat_image(2, 2, 1, 7));
  data::write_png16(path, testing::flat_image(3, 3, 1, 9000, 16));
  EXPECT_EQ(data::read_image(path).pixels, std::vector<uint16_t>(9, 9000));
  int files = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir.str())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1) << "a temporary file was left behind";
}

TEST(DataImageIo, ReadErrorsNameTheFile) {
  TempDir dir("imgerr");
  const std::string missing = dir.file("missing.png");
  testing::expect_error_with([&] { data::read_image(missing); }, {missing, "cannot open"});
  testing::expect_error_with([&] { data::read_image_header(missing); }, {missing, "cannot open"});

  const std::string good = dir.file("good.png");
  data::write_png8(good, testing::patterned_image(16, 16, 3, 8));
  const std::string bytes = testing::read_bytes(good);

  // Truncated inside the pixel data: the header still reads, decoding does not.
  const std::string truncated = dir.file("truncated.png");
  testing::write_bytes(truncated, bytes.substr(0, bytes.size() / 2));
  EXPECT_NO_THROW(data::read_image_header(truncated));
  testing::expect_error_with([&] { data::read_image(truncated); }, {truncated, "cannot decode"});

  // Truncated inside the header.
  const std::string stub = dir.file("stub.png");
  testing::write_bytes(stub, bytes.substr(0, 20));
  testing::expect_error_with([&] { data::read_image_header(stub); }, {stub, "header"});
  testing::expect_error_with([&] { data::read_image(stub); }, {stub});

  // Corrupt bytes: a PNG signature followed by garbage, and a text file.
  const std::string corrupt = dir.file("corrupt.png");
  testing::write_bytes(corrupt, bytes.substr(0, 8) + std::string(200, '\x5a'));
  testing::expect_error_with([&] { data::read_image(corrupt); }, {corrupt, "PNG"});
  const std::string text = dir.file("notes.png");
  testing::write_bytes(text, "this is not an image\n");
  testing::expect_error_with([&] { data::read_image(text); }, {text, "expected a PNG"});
  // A PNG header declaring 60000x60000 pixels over a few bytes of data, and a chunk longer than
  // the file: rejected before the decoder sizes buffers from them.
  const std::string huge = dir.file("huge.png");
  std::string huge_bytes = bytes;
  huge_bytes.replace(16, 8, std::string("\x00\x00\xea\x60\x00\x00\xea\x60", 8));
  testing::write_bytes(huge, huge_bytes);
  testing::expect_error_with([&] { data::read_image(huge); }, {huge, "cannot hold"});
  const std::string long_chunk = dir.file("long_chunk.png");
  std::string long_bytes = bytes;
  long_bytes.replace(33, 4, std::string("\x7f\x00\x00\x00", 4));   // the IDAT length
  testing::write_bytes(long_chunk, long_bytes);
  testing::expect_error_with([&] { data::read_image(long_chunk); }, {long_chunk, "declares 2130706432 bytes"});

  // Formats xmkd does not read, and a BMP declaring far more pixels than it holds.
  const std::string pgm = dir.file("depth.pgm");
  testing::write_bytes(pgm, "P5\n2 2\n255\n" + std::string(4, '\x10'));
  testing::expect_error_with([&] { data::read_image(pgm); }, {pgm, "expected a PNG, JPEG or BMP"});
  const std::string bomb = dir.file("bomb.bmp");
  std::string bomb_bytes = bmp24(2, 2, std::string(16, '\0'));
  bomb_bytes.replace(18, 8, le_bytes(60000, 4) + le_bytes(60000, 4));
  testing::write_bytes(bomb, bomb_bytes);
  testing::expect_error_with([&] { data::read_image(bomb); }, {bomb, "60000x60000"});

  const std::string empty = dir.file("empty.png");
  testing::write_bytes(empty, "");
  testing::expect_error_with([&] { data::read_image(empty); }, {empty});
}

// A Huffman table declaring more than 256 symbols: the decoder would write past its tables, so
// the file is rejected before the decoder sees it (by the header probe too).
TEST(DataImageIo, RejectsJpegWithOversizedHuffmanTable) {
  TempDir dir("imgjpeg");
  std::string jpeg = testing::read_bytes(std::string(XMKD_FIXTURE_DIR) + "/data_sample_16x16.jpg");
  const size_t dht = jpeg.find("\xff\xc4");
  ASSERT_NE(dht, std::string::npos);
  for (size_t i = 0; i < 16; ++i) jpeg[dht + 5 + i] = static_cast<char>(0x20);   // 16 x 32 = 512 symbols
  const std::string path = dir.file("bad.jpg");
  testing::write_bytes(path, jpeg);
  testing::expect_error_with([&] { data::read_image(path); }, {path, "Huffman table", "512"});
  testing::expect_error_with([&] { data::read_image_header(path); }, {path, "Huffman table"});
  // The decoder accepts fill bytes before the start marker; so does the check.
  testing::write_bytes(path, "\xff\xff" + jpeg);
  testing::expect_error_with([&] { data::read_image(path); }, {path, "Huffman table"});
  testing::expect_error_with([&] { data::read_image_header(path); }, {path, "Huffman table"});
}

TEST(DataImageIo, WriteErrorsNameTheFile) {
  TempDir dir("imgwerr");
  const std::string path = dir.file("w.png");
  Image too_big = testing::flat_image(2, 2, 1, 10);
  too_big.pixels[3] = 256;
  testing::expect_error_with([&] { data::write_png8(path, too_big); }, {path, "256", "x=1, y=1", "write_png16"});
  Image short_pixels = testing::flat_image(2, 2, 3, 10);
  short_pixels.pixels.pop_back();
  testing::expect_error_with([&] { data::write_png16(path, short_pixels); }, {path, "11 pixel values"});
  testing::expect_error_with([&] { data::write_png8(path, testing::flat_image(2, 2, 5, 1)); }, {path, "channels"});
  testing::expect_error_with([&] { data::write_png16(path, testing::flat_image(0, 2, 1, 1)); }, {path, "size"});
  const std::string no_dir = dir.str() + "/no/such/dir/w.png";
  testing::expect_error_with([&] { data::write_png8(no_dir, testing::flat_image(1, 1, 1, 1)); }, {no_dir});
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace xmkd
