// The training programs' user-facing pieces: the progress line, the raster canvas, the training
// curves PNG and the segmentation grid PNG.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/image_io.h"
#include "tests/support/errors.h"
#include "tests/support/temp_dir.h"
#include "tools/train/canvas.h"
#include "tools/train/ui.h"

namespace xmkd::train {
namespace {

namespace fs = std::filesystem;
using xmkd::testing::contains;
using xmkd::testing::TempDir;

Rgb pixel(const data::Image& image, int64_t x, int64_t y) {
  const uint16_t* p = &image.pixels[static_cast<size_t>((y * image.width + x) * image.channels)];
  return {static_cast<uint8_t>(p[0]), static_cast<uint8_t>(p[1]), static_cast<uint8_t>(p[2])};
}

bool has_colour(const data::Image& image, Rgb colour) {
  for (int64_t y = 0; y < image.height; ++y) {
    for (int64_t x = 0; x < image.width; ++x) {
      if (pixel(image, x, y) == colour) return true;
    }
  }
  return false;
}

TEST(UiFormat, DurationIsMinutesSecondsThenHours) {
  EXPECT_EQ(format_duration(0.0), "00:00");
  EXPECT_EQ(format_duration(59.4), "00:59");
  EXPECT_EQ(format_duration(61.0), "01:01");
  EXPECT_EQ(format_duration(3599.0), "59:59");
  EXPECT_EQ(format_duration(3600.0), "1:00:00");
  EXPECT_EQ(format_duration(3725.0), "1:02:05");
  EXPECT_EQ(format_duration(36.0 * 3600 + 61), "36:01:01");
  EXPECT_EQ(format_duration(-1.0), "--:--");
  EXPECT_EQ(format_duration(std::nan("")), "--:--");
  EXPECT_EQ(format_duration(INFINITY), "--:--");
}

TEST(UiFormat, InteractiveLineHasBarStatsRateAndTimes) {
  ProgressState state{"train", 50, 100, {{"loss", 0.4321}, {"kd", 1.5}}, 512.3, 12.0};
  EXPECT_EQ(format_progress_line(state, true),
            "train [##########..........] 50/100 loss 0.4321 kd 1.5 | 512 samples/s | 00:12<00:12");
  state.steps_done = 0;
  EXPECT_EQ(format_progress_line(state, true),
            "train [....................] 0/100 loss 0.4321 kd 1.5 | 512 samples/s | 00:12<--:--");
  state.steps_done = 100;
  state.samples_per_second = 12.34;
  state.stats = {};
  EXPECT_EQ(format_progress_line(state, true), "train [####################] 100/100 | 12.3 samples/s | 00:12<00:00");
}

TEST(UiFormat, PlainLineHasNoBarOrControlCharacters) {
  ProgressState state{"epoch 3/10", 25, 100, {{"loss", 0.4321}, {"acc", std::nan("")}}, 1000.0, 30.0};
  const std::string line = format_progress_line(state, false);
  EXPECT_EQ(line, "epoch 3/10 25/100 (25%) loss 0.4321, acc nan, 1000 samples/s, elapsed 00:30, eta 01:30");
  EXPECT_FALSE(contains(line, "\r"));
  EXPECT_FALSE(contains(line, "\x1b"));
}

TEST(UiFormat, UnknownTotalShowsStepsOnly) {
  ProgressState state{"eval", 7, 0, {}, 3.0, 5.0};
  EXPECT_EQ(format_progress_line(state, true), "eval 7 | 3.0 samples/s | 00:05");
  EXPECT_EQ(format_progress_line(state, false), "eval 7, 3.0 samples/s, elapsed 00:05");
}

TEST(UiFormat, RunEtaFollowsTheEpochEta) {
  ProgressState state{"epoch 2/5", 25, 100, {}, 100.0, 30.0};
  // 90 s left in this epoch; three later epochs of a measured 200 s each.
  EXPECT_DOUBLE_EQ(run_eta_seconds(state, 3, 200.0), 90.0 + 600.0);
  // Not measured yet: this epoch's projected 120 s stands in.
  EXPECT_DOUBLE_EQ(run_eta_seconds(state, 3, 0.0), 90.0 + 360.0);
  EXPECT_DOUBLE_EQ(run_eta_seconds(state, 0, 200.0), 90.0);
  state.steps_done = 0;
  EXPECT_LT(run_eta_seconds(state, 3, 200.0), 0.0);

  state.steps_done = 25;
  state.run_eta_seconds = 690.0;
  EXPECT_EQ(format_progress_line(state, true),
            "epoch 2/5 [#####...............] 25/100 | 100 samples/s | 00:30<01:30 | run 11:30 left");
  EXPECT_EQ(format_progress_line(state, false),
            "epoch 2/5 25/100 (25%), 100 samples/s, elapsed 00:30, eta 01:30, run eta 11:30");
}

TEST(UiProgressBar, PlainPrintsOnAnIntervalAndTheSummary) {
  // An interval of 0 s: a line at every step but the last, which finish() reports.
  ::testing::internal::CaptureStderr();
  ProgressBar every("train", 5, /*interactive=*/false, /*plain_every_seconds=*/0.0);
  every.set_run(2, 60.0);
  for (int64_t step = 1; step <= 5; ++step) every.update(step, {{"loss", 1.0 / step}}, 100.0);
  every.finish("loss 0.2, 00:02");
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 5) << out;   // 4 steps + the summary
  EXPECT_FALSE(contains(out, "\r"));
  EXPECT_FALSE(contains(out, "\x1b"));
  EXPECT_TRUE(contains(out, "train 4/5 (80%) loss 0.25, 100 samples/s")) << out;
  EXPECT_TRUE(contains(out, ", run eta 02:")) << out;   // under a second left, then 2 x 60 s
  EXPECT_TRUE(contains(out, "train: loss 0.2, 00:02\n")) << out;

  // A long interval: a short epoch reports only its summary, however many steps it has.
  ::testing::internal::CaptureStderr();
  ProgressBar quiet("train", 1000, /*interactive=*/false, /*plain_every_seconds=*/3600.0);
  for (int64_t step = 1; step <= 1000; ++step) quiet.update(step, {{"loss", 0.5}}, 100.0);
  quiet.finish("");
  out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "train: done\n");
}

TEST(UiProgressBar, InteractiveRedrawsOneLineAndThrottles) {
  ::testing::internal::CaptureStderr();
  ProgressBar bar("train", 10000, /*interactive=*/true);
  for (int64_t step = 1; step <= 10000; ++step) bar.update(step, {{"loss", 0.5}}, 100.0);
  bar.finish("done");
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
  EXPECT_EQ(out.back(), '\n');
  // The first step, the last step and finish draw; in between at most one redraw per 0.1 s.
  EXPECT_GE(std::count(out.begin(), out.end(), '\r'), 3);
  EXPECT_LT(std::count(out.begin(), out.end(), '\r'), 50);
  EXPECT_TRUE(contains(out, "10000/10000 loss 0.5")) << out;
  EXPECT_TRUE(contains(out, "| done")) << out;
}

TEST(UiCanvas, LineCoversExactlyItsPixels) {
  Canvas canvas(16, 12);
  const Rgb red{255, 0, 0};
  canvas.line(2, 5, 9, 5, red);
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 16; ++x) {
      EXPECT_EQ(canvas.get(x, y) == red, y == 5 && x >= 2 && x <= 9) << x << "," << y;
      if (canvas.get(x, y) != red) {
        EXPECT_EQ(canvas.get(x, y), colours::kWhite) << x << "," << y;
      }
    }
  }
  canvas.line(12, 1, 12, 10, red);   // vertical
  for (int y = 1; y <= 10; ++y) EXPECT_EQ(canvas.get(12, y), red);
  EXPECT_EQ(canvas.get(11, 4), colours::kWhite);
  EXPECT_EQ(canvas.get(12, 0), colours::kWhite);
}

TEST(UiCanvas, DiagonalLineIsAntiAliased) {
  Canvas canvas(12, 12);
  canvas.line(1, 1, 9, 9, colours::kBlack);
  for (int i = 1; i <= 9; ++i) EXPECT_EQ(canvas.get(i, i), colours::kBlack);
  const Rgb beside = canvas.get(5, 4);   // 0.71 px from the line: partly covered
  EXPECT_GT(beside.r, 0);
  EXPECT_LT(beside.r, 255);
  EXPECT_EQ(canvas.get(8, 2), colours::kWhite);
  canvas.line(0, 0, std::nan(""), 5, colours::kBlack);   // non-finite ends draw nothing
}

TEST(UiCanvas, RectanglesClipAndTextRenders) {
  Canvas canvas(40, 20);
  canvas.fill_rect(-5, -5, 10, 10, colours::kBlack);   // clipped, no error
  EXPECT_EQ(canvas.get(4, 4), colours::kBlack);
  EXPECT_EQ(canvas.get(5, 5), colours::kWhite);
  Canvas text(60, 12);
  text.text(1, 1, "Ab1.", colours::kBlack);
  int inked = 0;
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 60; ++x) {
      if (text.get(x, y) == colours::kBlack) {
        ++inked;
        EXPECT_LT(x, 1 + text_width("Ab1.")) << "ink outside the text box";
        EXPECT_LT(y, 1 + text_height()) << "ink outside the text box";
      }
    }
  }
  EXPECT_GT(inked, 20);
  EXPECT_EQ(text_width("Ab1."), 23);
  Canvas blank(20, 12);
  blank.text(1, 1, "   ", colours::kBlack);
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 20; ++x) EXPECT_EQ(blank.get(x, y), colours::kWhite);
  }
  EXPECT_EQ(fit_text("validation", 30), "vali.");
  EXPECT_EQ(fit_text("rgb", 30), "rgb");
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const std::string& line : lines) out << line << "\n";
}

TEST(UiCurves, WritesADecodablePngWithBothPanels) {
  TempDir dir;
  write_lines(dir.path("metrics.jsonl"),
              {R"({"epoch": 1, "lr": 0.1, "seconds": 3, "samples_per_second": 100, "train": {"loss": 2.3, "ce": 2.0, "kd": 0.3}, "val": {"rgb": {"weighted_f1": 0.2, "macro_f1": 0.1, "accuracy": 0.3}, "depth": {"weighted_f1": 0.15}}})",
               R"({"epoch": 2, "lr": 0.1, "seconds": 3, "samples_per_second": 100, "train": {"loss": 0.9, "ce": 0.8, "kd": null}, "val": {"rgb": {"weighted_f1": 0.5}, "depth": {"weighted_f1": null}}})",
               R"({"epoch": 3, "lr": 0.1, "seconds": 3, "samples_per_second": 100, "train": {"loss": 0.05, "ce": 0.04}, "val": {"rgb": {"weighted_f1": 0.7}, "depth": {"weighted_f1": 0.4}}})",
               R"({"epoch": 4, "train": {"loss")"});   // a line still being written
  write_training_curves(dir.path("metrics.jsonl"), dir.path("curves.png"));
  const data::Image image = data::read_image(dir.path("curves.png"));
  EXPECT_EQ(image.width, 1000);
  EXPECT_EQ(image.height, 420);
  EXPECT_EQ(image.channels, 3);
  EXPECT_TRUE(has_colour(image, {31, 119, 180}));   // the first series' colour
  EXPECT_TRUE(has_colour(image, {255, 127, 14}));   // the second
  EXPECT_TRUE(has_colour(image, {44, 160, 44}));    // the third (kd, one finite point)
}

// The metric panel uses the console's x100 scale, both axes say what they show, and series with
// the same points (a loss equal to its only part; two outputs of one network) become one line
// whose legend names both, instead of one line drawn invisibly under the other.
TEST(UiCurves, MetricIsTimesHundredAxesAreTitledAndIdenticalLinesMerge) {
  TempDir dir;
  write_lines(dir.path("m.jsonl"),
              {R"({"epoch": 1, "train": {"loss": 1.5, "ce": 1.5}, "val": {"rgb": {"weighted_f1": 0.25}, "fused": {"weighted_f1": 0.25}, "depth": {"weighted_f1": 0.125}}})",
               R"({"epoch": 2, "train": {"loss": 0.5, "ce": 0.5}, "val": {"rgb": {"weighted_f1": 0.5}, "fused": {"weighted_f1": 0.5}, "depth": {"weighted_f1": 0.5}}})"});
  const std::array<CurvePanel, 2> panels = training_curve_panels(dir.path("m.jsonl"));
  EXPECT_EQ(panels[0].y_label, "loss");
  ASSERT_EQ(panels[0].series.size(), 1u);
  EXPECT_EQ(panels[0].series[0].name, "loss = ce");
  EXPECT_EQ(panels[1].title, "validation weighted_f1");
  EXPECT_EQ(panels[1].y_label, "weighted_f1 (x100)");
  ASSERT_EQ(panels[1].series.size(), 2u);   // depth differs at epoch 1, so it keeps its own line
  std::vector<std::string> names;
  for (const CurveSeries& series : panels[1].series) names.push_back(series.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"depth", "fused = rgb"}));
  for (const CurveSeries& series : panels[1].series) {
    ASSERT_EQ(series.points.size(), 2u);
    EXPECT_DOUBLE_EQ(series.points[0].second, series.name == "depth" ? 12.5 : 25.0);
    EXPECT_DOUBLE_EQ(series.points[1].second, 50.0);
  }

  write_lines(dir.path("mixed.jsonl"), {R"({"epoch": 1, "val": {"a": {"miou": 0.3}, "b": {"accuracy": 0.8}}})"});
  const std::array<CurvePanel, 2> mixed = training_curve_panels(dir.path("mixed.jsonl"));
  EXPECT_EQ(mixed[1].y_label, "metric (x100)");
  ASSERT_EQ(mixed[1].series.size(), 2u);
  EXPECT_EQ(mixed[1].series[0].name, "a miou");
  EXPECT_DOUBLE_EQ(mixed[1].series[1].points[0].second, 80.0);
}

TEST(UiCurves, OneEpochMissingPartsAndEmptyFiles) {
  TempDir dir;
  write_lines(dir.path("one.jsonl"), {R"({"epoch": 1, "train": {"loss": 0.5}})"});
  write_training_curves(dir.path("one.jsonl"), dir.path("one.png"));
  EXPECT_EQ(data::read_image(dir.path("one.png")).width, 1000);
  EXPECT_TRUE(has_colour(data::read_image(dir.path("one.png")), {31, 119, 180}));   // a marker for the lone point

  write_lines(dir.path("seg.jsonl"), {R"({"epoch": 1, "val": {"fused": {"miou": 0.3, "pixel_accuracy": 0.8}}})",
                                      R"({"epoch": 2, "train": {}, "val": {"fused": {"miou": 0.31}}})"});
  write_training_curves(dir.path("seg.jsonl"), dir.path("seg.png"));
  EXPECT_EQ(data::read_image(dir.path("seg.png")).height, 420);

  write_lines(dir.path("empty.jsonl"), {});
  write_training_curves(dir.path("empty.jsonl"), dir.path("empty.png"));
  EXPECT_EQ(data::read_image(dir.path("empty.png")).width, 1000);

  const std::string message = xmkd::testing::error_message(
      [&] { write_training_curves(dir.path("absent.jsonl"), dir.path("absent.png")); });
  EXPECT_TRUE(contains(message, "absent.jsonl")) << message;
}

TEST(UiPalette, ClassColoursAreDistinctAndIgnoreIsBlack) {
  std::set<std::array<uint8_t, 3>> seen;
  for (int64_t c = 0; c < 60; ++c) {
    const auto colour = class_colour(c);
    EXPECT_NE(colour, (std::array<uint8_t, 3>{0, 0, 0})) << c;
    EXPECT_TRUE(seen.insert(colour).second) << "class " << c << " repeats a colour";
  }
  EXPECT_EQ(class_colour(255), (std::array<uint8_t, 3>{0, 0, 0}));
  EXPECT_EQ(class_colour(-1), (std::array<uint8_t, 3>{0, 0, 0}));
  const data::Image image = colourise_labels(Tensor::from_vector<int64_t>({0, 1, 255, 2}, {2, 2}));
  EXPECT_EQ(image.width, 2);
  EXPECT_EQ(image.height, 2);
  EXPECT_EQ(pixel(image, 0, 1), (Rgb{0, 0, 0}));
  const auto one = class_colour(1);
  EXPECT_EQ(pixel(image, 1, 0), (Rgb{one[0], one[1], one[2]}));
}

TEST(UiSegGrid, RowsTimesColumnsOfZoomedTiles) {
  TempDir dir;
  const int64_t n = 2, h = 16, w = 12;
  std::vector<float> rgb(n * 3 * h * w), depth(n * h * w);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<float>(i % (h * w) % 7) / 6.0f;
  for (size_t i = 0; i < depth.size(); ++i) depth[i] = i % 5 == 0 ? 0.0f : 0.5f + static_cast<float>(i % 11) * 0.3f;
  depth[0] = 0.0f;   // a hole at pixel (0, 0) of sample 0
  std::vector<int64_t> labels(n * h * w), prediction(n * h * w);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 4), prediction[i] = 3;
  labels[0] = 255;
  write_segmentation_grid({"rgb", "depth"},
                          {Tensor::from_vector(rgb, {n, 3, h, w}), Tensor::from_vector(depth, {n, 1, h, w})},
                          Tensor::from_vector(labels, {n, h, w}),
                          {{"rgb", Tensor::from_vector(prediction, {n, h, w})}, {"depth", Tensor::from_vector(prediction, {n, h, w})}},
                          4, dir.path("grid.png"));
  const data::Image image = data::read_image(dir.path("grid.png"));
  const int64_t zoom = seg_grid_zoom(h, w);
  EXPECT_EQ(zoom, 8);   // the longer side, 16 px, to 128 px
  const int64_t cols = 5, tile_w = w * zoom, tile_h = h * zoom;
  EXPECT_EQ(image.width, cols * tile_w + (cols + 1) * kSegGridGap);
  EXPECT_EQ(image.height, kSegGridCaption + n * tile_h + (n + 1) * kSegGridGap);
  auto tile_pixel = [&](int64_t row, int64_t col, int64_t x, int64_t y) {
    return pixel(image, kSegGridGap + col * (tile_w + kSegGridGap) + x * zoom + zoom / 2,
                 kSegGridCaption + kSegGridGap + row * (tile_h + kSegGridGap) + y * zoom + zoom / 2);
  };
  EXPECT_EQ(tile_pixel(0, 1, 0, 0), (Rgb{0, 0, 0}));   // a depth hole
  EXPECT_EQ(tile_pixel(0, 2, 0, 0), (Rgb{0, 0, 0}));   // ignore in the ground truth
  const auto gt = class_colour(1), pred = class_colour(3);
  EXPECT_EQ(tile_pixel(0, 2, 1, 0), (Rgb{gt[0], gt[1], gt[2]}));
  EXPECT_EQ(tile_pixel(1, 4, 5, 5), (Rgb{pred[0], pred[1], pred[2]}));
  EXPECT_EQ(tile_pixel(0, 0, 1, 0), (Rgb{43, 43, 43}));   // RGB of value 1/6

  const std::string message = xmkd::testing::error_message([&] {
    write_segmentation_grid({"rgb"}, {Tensor::zeros({n, 3, h + 1, w})}, Tensor::from_vector(labels, {n, h, w}), {}, 4,
                            dir.path("bad.png"));
  });
  EXPECT_TRUE(contains(message, "write_segmentation_grid")) << message;
  EXPECT_TRUE(contains(message, "rgb")) << message;
}

}  // namespace
}  // namespace xmkd::train
