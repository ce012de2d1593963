// The training curves of a run (tools/train/ui.h): RUN/metrics.jsonl drawn as two line charts.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "tools/train/canvas.h"
#include "tools/train/ui.h"

namespace xmkd::train {
namespace {

using nlohmann::json;

constexpr int kWidth = 1000, kHeight = 420;
constexpr int kMarginLeft = 64, kMarginRight = 16, kMarginTop = 44, kMarginBottom = 40;
constexpr Rgb kInk{40, 40, 40};
const Rgb kSeriesColours[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},   {148, 103, 189},
                              {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

using Series = CurveSeries;
using Chart = CurvePanel;

double number_or_nan(const json& value) {
  return value.is_number() ? value.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// Appends (epoch, value) to the series called `name`, creating it in first-seen order.
void add_point(std::vector<Series>& series, const std::string& name, double epoch, double value) {
  auto it = std::find_if(series.begin(), series.end(), [&](const Series& s) { return s.name == name; });
  if (it == series.end()) it = series.insert(series.end(), Series{name, {}});
  if (std::isfinite(value)) it->points.emplace_back(epoch, value);
}

// The validation metric an output is plotted by: weighted_f1 (classification), miou
// (segmentation), or the first other one present.
std::pair<std::string, double> headline_metric(const json& metrics) {
  if (metrics.is_number()) return {"", metrics.get<double>()};
  if (!metrics.is_object()) return {"", std::numeric_limits<double>::quiet_NaN()};
  for (const char* key : {"weighted_f1", "miou", "macro_f1", "accuracy", "pixel_accuracy"}) {
    if (metrics.contains(key)) return {key, number_or_nan(metrics[key])};
  }
  return {"", std::numeric_limits<double>::quiet_NaN()};
}

void read_metrics(const std::string& path, Chart& loss, Chart& val) {
  std::ifstream in(path);
  XMKD_CHECK(in, "write_training_curves: cannot open ", path);
  std::map<std::string, std::string> metric_of_output;
  std::string text;
  int64_t line_number = 0;
  while (std::getline(in, text)) {
    ++line_number;
    json record = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() || !record.is_object()) continue;   // blank, or a line still being written
    const double epoch = record.contains("epoch") && record["epoch"].is_number() ? record["epoch"].get<double>()
                                                                                 : static_cast<double>(line_number);
    if (record.contains("train") && record["train"].is_object()) {
      const json& train = record["train"];
      if (train.contains("loss")) add_point(loss.series, "loss", epoch, number_or_nan(train["loss"]));
      for (const auto& [key, value] : train.items()) {
        if (key != "loss") add_point(loss.series, key, epoch, number_or_nan(value));
      }
    }
    if (record.contains("val") && record["val"].is_object()) {
      for (const auto& [output, metrics] : record["val"].items()) {
        const auto [metric, value] = headline_metric(metrics);
        if (!metric.empty()) metric_of_output[output] = metric;
        add_point(val.series, output, epoch, 100.0 * value);   // the console's x100 scale
      }
    }
  }
  std::string common;
  bool mixed = false;
  for (const auto& [output, metric] : metric_of_output) {
    mixed = mixed || (!common.empty() && metric != common);
    common = metric;
  }
  if (mixed) {
    for (Series& s : val.series) {
      if (metric_of_output.count(s.name)) s.name += " " + metric_of_output[s.name];
    }
    val.title = "validation metric";
    val.y_label = "metric (x100)";
  } else {
    val.title = common.empty() ? "validation metric" : "validation " + common;
    val.y_label = (common.empty() ? std::string("metric") : common) + " (x100)";
  }
  loss.y_label = "loss";
}

// Series with the same points (a loss that is its only part; outputs that share a network) would
// draw one line over another: each is folded into the first, whose name lists them all ("a = b").
void merge_identical(std::vector<Series>& series) {
  std::vector<Series> kept;
  for (Series& s : series) {
    auto same = std::find_if(kept.begin(), kept.end(), [&](const Series& k) {
      if (k.points.size() != s.points.size() || s.points.empty()) return false;
      for (size_t i = 0; i < s.points.size(); ++i) {
        const double scale = std::max({1.0, std::abs(k.points[i].second), std::abs(s.points[i].second)});
        if (k.points[i].first != s.points[i].first || std::abs(k.points[i].second - s.points[i].second) > 1e-9 * scale)
          return false;
      }
      return true;
    });
    if (same == kept.end()) {
      kept.push_back(std::move(s));
    } else {
      same->name += " = " + s.name;
    }
  }
  series = std::move(kept);
}

// The "nice" step (1, 2 or 5 times a power of ten) nearest above span / intervals.
double nice_step(double span, int intervals) {
  const double raw = span / intervals;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (raw <= m * power * (1.0 + 1e-9)) return m * power;
  }
  return 10.0 * power;
}

struct Axis {
  double lo = 0.0, hi = 1.0;
  bool log = false;
  std::vector<double> ticks;
  double fraction(double v) const {   // 0 at lo, 1 at hi
    return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
  }
};

Axis linear_axis(double lo, double hi, int intervals) {
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::abs(lo) * 0.1, 0.05);
    lo -= pad, hi += pad;
  }
  const double step = nice_step(hi - lo, intervals);
  Axis axis;
  axis.lo = std::floor(lo / step + 1e-9) * step;
  axis.hi = std::ceil(hi / step - 1e-9) * step;
  for (double t = axis.lo; t <= axis.hi + step * 1e-6; t += step) axis.ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return axis;
}

// Decades from below the smallest to above the largest value; 2x and 5x ticks when few decades.
Axis log_axis(double lo, double hi) {
  Axis axis;
  axis.log = true;
  const int d0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9)), d1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  axis.lo = std::pow(10.0, d0);
  axis.hi = std::pow(10.0, std::max(d1, d0 + 1));
  const bool fine = d1 - d0 <= 2;
  for (int d = d0; d <= std::max(d1, d0 + 1); ++d) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double t = m * std::pow(10.0, d);
      if ((m == 1.0 || fine) && t <= axis.hi * (1.0 + 1e-9)) axis.ticks.push_back(t);
    }
  }
  return axis;
}

std::string tick_label(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", std::abs(v) < 1e-12 ? 0.0 : v);
  return text;
}

struct Area {
  int x, y, w, h;
};

struct Scales {
  Axis x, y;
  Area area;
  double px(double v) const { return area.x + x.fraction(v) * (area.w - 1); }
  double py(double v) const { return area.y + area.h - 1 - y.fraction(v) * (area.h - 1); }
};

Scales make_scales(const Chart& chart, Area area) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const Series& s : chart.series) {
    for (const auto& [x, y] : s.points) {
      xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  }
  Scales scales;
  scales.area = area;
  // Epochs: integer ticks; one epoch gets a unit-wide axis around it.
  if (xmax - xmin < 1.0) xmin -= 0.5, xmax += 0.5;
  const double xstep = std::max(1.0, nice_step(xmax - xmin, 8));
  scales.x.lo = xmin, scales.x.hi = xmax;
  for (double t = std::ceil(xmin / xstep) * xstep; t <= xmax + 1e-9; t += xstep) scales.x.ticks.push_back(t);
  if (chart.allow_log_y && ymin > 0.0 && ymax / ymin >= 20.0) {
    scales.y = log_axis(ymin, ymax);
  } else {
    scales.y = linear_axis(ymin, ymax, 5);
  }
  return scales;
}

// The corner of the plot area (top-right first) where the legend box hides the fewest points.
Area legend_box(const Chart& chart, const Scales& s, int w, int h) {
  const int pad = 6;
  const Area corners[] = {{s.area.x + s.area.w - w - pad, s.area.y + pad, w, h},
                          {s.area.x + s.area.w - w - pad, s.area.y + s.area.h - h - pad, w, h},
                          {s.area.x + pad, s.area.y + pad, w, h},
                          {s.area.x + pad, s.area.y + s.area.h - h - pad, w, h}};
  Area best = corners[0];
  int best_hidden = std::numeric_limits<int>::max();
  for (const Area& box : corners) {
    int hidden = 0;
    for (const Series& series : chart.series) {
      for (const auto& [x, y] : series.points) {
        const double px = s.px(x), py = s.py(y);
        hidden += px >= box.x - 4 && px <= box.x + box.w + 4 && py >= box.y - 4 && py <= box.y + box.h + 4;
      }
    }
    if (hidden < best_hidden) best = box, best_hidden = hidden;
  }
  return best;
}

void draw_chart(Canvas& canvas, const Chart& chart, Area panel) {
  canvas.text(panel.x + (panel.w - text_width(chart.title, 2)) / 2, panel.y + 8, chart.title, kInk, 2);
  const Area area{panel.x + kMarginLeft, panel.y + kMarginTop, panel.w - kMarginLeft - kMarginRight,
                  panel.h - kMarginTop - kMarginBottom};
  bool any = false;
  for (const Series& s : chart.series) any = any || !s.points.empty();
  if (!any) {
    canvas.draw_rect(area.x, area.y, area.w, area.h, colours::kGrey);
    const std::string note = "no data yet";
    canvas.text(area.x + (area.w - text_width(note)) / 2, area.y + area.h / 2, note, colours::kGrey);
    return;
  }
  const Scales s = make_scales(chart, area);
  for (double t : s.y.ticks) {
    const int y = static_cast<int>(std::lround(s.py(t)));
    canvas.fill_rect(area.x, y, area.w, 1, colours::kLightGrey);
    const std::string label = tick_label(t);
    canvas.text(area.x - 6 - text_width(label), y - 3, label, kInk);
  }
  for (double t : s.x.ticks) {
    const int x = static_cast<int>(std::lround(s.px(t)));
    canvas.fill_rect(x, area.y, 1, area.h, colours::kLightGrey);
    canvas.fill_rect(x, area.y + area.h, 1, 4, kInk);
    const std::string label = tick_label(t);
    canvas.text(x - text_width(label) / 2, area.y + area.h + 7, label, kInk);
  }
  canvas.draw_rect(area.x, area.y, area.w, area.h, kInk);
  const std::string x_title = "epoch";
  canvas.text(area.x + (area.w - text_width(x_title)) / 2, area.y + area.h + 22, x_title, kInk);
  // The y axis's title above its tick labels, left-aligned with the panel.
  const std::string y_title = chart.y_label + (s.y.log ? ", log scale" : "");
  canvas.text(panel.x + 6, area.y - text_height() - 4, fit_text(y_title, area.w + kMarginLeft - 12), kInk);

  size_t drawn = 0;
  std::vector<std::pair<std::string, Rgb>> legend;
  for (const Series& series : chart.series) {
    if (series.points.empty()) continue;
    const Rgb colour = kSeriesColours[drawn++ % std::size(kSeriesColours)];
    legend.emplace_back(series.name, colour);
    const auto& p = series.points;
    for (size_t i = 1; i < p.size(); ++i) {
      canvas.line(s.px(p[i - 1].first), s.py(p[i - 1].second), s.px(p[i].first), s.py(p[i].second), colour, 2.0);
    }
    if (p.size() <= 40) {   // markers while they do not crowd the line; they make a lone epoch visible
      for (const auto& [x, y] : p) {
        canvas.fill_rect(static_cast<int>(std::lround(s.px(x))) - 2, static_cast<int>(std::lround(s.py(y))) - 2, 5, 5, colour);
      }
    }
  }
  int legend_w = 0;
  for (const auto& entry : legend) legend_w = std::max(legend_w, text_width(entry.first));
  legend_w += 34;
  const int legend_h = static_cast<int>(legend.size()) * 12 + 8;
  const Area box = legend_box(chart, s, legend_w, legend_h);
  canvas.fill_rect(box.x, box.y, box.w, box.h, colours::kWhite);
  canvas.draw_rect(box.x, box.y, box.w, box.h, colours::kGrey);
  for (size_t i = 0; i < legend.size(); ++i) {
    const int y = box.y + 6 + static_cast<int>(i) * 12;
    canvas.line(box.x + 6, y + 3, box.x + 22, y + 3, legend[i].second, 2.0);
    canvas.text(box.x + 28, y, legend[i].first, kInk);
  }
}

}  // namespace

std::array<CurvePanel, 2> training_curve_panels(const std::string& metrics_jsonl) {
  Chart loss{"training loss", "loss", {}, /*allow_log_y=*/true};
  Chart val{"validation metric", "metric (x100)", {}, false};
  read_metrics(metrics_jsonl, loss, val);
  merge_identical(loss.series);
  merge_identical(val.series);
  return {loss, val};
}

void write_training_curves(const std::string& metrics_jsonl, const std::string& png_path) {
  const std::array<CurvePanel, 2> panels = training_curve_panels(metrics_jsonl);
  Canvas canvas(kWidth, kHeight);
  draw_chart(canvas, panels[0], {0, 0, kWidth / 2, kHeight});
  draw_chart(canvas, panels[1], {kWidth / 2, 0, kWidth / 2, kHeight});
  canvas.save_png(png_path);
}

}  // namespace xmkd::train
