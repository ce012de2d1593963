// The progress bar of tools/train/ui.h: a pure line formatter and the throttled writer.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tools/train/ui.h"

namespace xmkd::train {
namespace {

constexpr int kBarWidth = 20;
constexpr double kRedrawSeconds = 0.1;

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

std::string format_rate(double samples_per_second) {
  char text[48];
  std::snprintf(text, sizeof text, samples_per_second >= 100.0 ? "%.0f samples/s" : "%.1f samples/s",
                std::max(0.0, samples_per_second));
  return text;
}

// Seconds still to go at the average pace so far; -1 when it cannot be told yet.
double eta_seconds(const ProgressState& s) {
  if (s.total_steps <= 0 || s.steps_done <= 0) return -1.0;
  const int64_t left = std::max<int64_t>(0, s.total_steps - s.steps_done);
  return s.elapsed_seconds * static_cast<double>(left) / static_cast<double>(s.steps_done);
}

std::string stats_text(const ProgressState& s, const char* separator) {
  std::string text;
  for (size_t i = 0; i < s.stats.size(); ++i) {
    text += (i ? separator : "") + s.stats[i].first + " " + format_number(s.stats[i].second);
  }
  return text;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "--:--";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  const int64_t h = total / 3600, m = (total / 60) % 60, s = total % 60;
  char text[32];
  if (h > 0) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(h), static_cast<long long>(m),
                  static_cast<long long>(s));
  } else {
    std::snprintf(text, sizeof text, "%02lld:%02lld", static_cast<long long>(m), static_cast<long long>(s));
  }
  return text;
}

std::string format_progress_line(const ProgressState& s, bool interactive) {
  const bool known_total = s.total_steps > 0;
  const int64_t done = known_total ? std::clamp<int64_t>(s.steps_done, 0, s.total_steps) : std::max<int64_t>(0, s.steps_done);
  const std::string steps = known_total ? str_cat(done, "/", s.total_steps) : str_cat(done);
  const std::string stats = stats_text(s, interactive ? " " : ", ");
  std::string line = s.label;
  if (interactive) {
    if (known_total) {
      const auto filled = static_cast<int>(done * kBarWidth / s.total_steps);
      line += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "]";
    }
    line += " " + steps;
    if (!stats.empty()) line += " " + stats;
    line += " | " + format_rate(s.samples_per_second) + " | " + format_duration(s.elapsed_seconds);
    if (known_total) line += "<" + format_duration(eta_seconds(s));
    if (s.run_eta_seconds >= 0) line += " | run " + format_duration(s.run_eta_seconds) + " left";
    return line;
  }
  line += " " + steps;
  if (known_total) line += str_cat(" (", done * 100 / s.total_steps, "%)");
  if (!stats.empty()) line += " " + stats;
  line += ", " + format_rate(s.samples_per_second) + ", elapsed " + format_duration(s.elapsed_seconds);
  if (known_total) line += ", eta " + format_duration(eta_seconds(s));
  if (s.run_eta_seconds >= 0) line += ", run eta " + format_duration(s.run_eta_seconds);
  return line;
}

double run_eta_seconds(const ProgressState& epoch, int64_t later_epochs, double seconds_per_epoch) {
  const double left = eta_seconds(epoch);
  if (left < 0) return -1.0;
  const double per_epoch = seconds_per_epoch > 0 ? seconds_per_epoch : epoch.elapsed_seconds + left;
  return left + static_cast<double>(std::max<int64_t>(0, later_epochs)) * per_epoch;
}

bool stderr_is_terminal() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) == 1 && !(term && std::strcmp(term, "dumb") == 0);
}

ProgressBar::ProgressBar(std::string label, int64_t total_steps, bool interactive, double plain_every_seconds)
    : label_(std::move(label)), total_steps_(total_steps), interactive_(interactive), start_(Clock::now()),
      last_draw_(start_), plain_every_seconds_(plain_every_seconds) {}

void ProgressBar::set_run(int64_t later_epochs, double seconds_per_epoch) {
  later_epochs_ = later_epochs;
  seconds_per_epoch_ = seconds_per_epoch;
}

std::string ProgressBar::line(bool interactive) const {
  ProgressState state{label_, steps_done_, total_steps_, stats_, samples_per_second_,
                      std::chrono::duration<double>(Clock::now() - start_).count()};
  if (later_epochs_ >= 0) state.run_eta_seconds = run_eta_seconds(state, later_epochs_, seconds_per_epoch_);
  return format_progress_line(state, interactive);
}

void ProgressBar::update(int64_t steps_done, const std::vector<std::pair<std::string, double>>& stats,
                         double samples_per_second) {
  steps_done_ = steps_done;
  stats_ = stats;
  samples_per_second_ = samples_per_second;
  if (silent_) return;
  const bool last = total_steps_ > 0 && steps_done >= total_steps_;
  const Clock::time_point now = Clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  if (interactive_) {
    if (drawn_ && !last && since_draw < kRedrawSeconds) return;
    last_draw_ = now;
    drawn_ = true;
    // "\x1b[K" clears what a longer previous line left to the right.
    std::fprintf(stderr, "\r%s\x1b[K", line(true).c_str());
    std::fflush(stderr);
    return;
  }
  // Plain: the first line once plain_every_seconds have passed since the start, then one per
  // interval; the epoch's end is finish()'s line.
  if (since_draw < plain_every_seconds_ || last) return;
  last_draw_ = now;
  std::fprintf(stderr, "%s\n", line(false).c_str());
  std::fflush(stderr);
}

void ProgressBar::finish(const std::string& summary) {
  if (silent_) return;
  if (interactive_) {
    std::fprintf(stderr, "\r%s%s%s\x1b[K\n", line(true).c_str(), summary.empty() ? "" : " | ", summary.c_str());
  } else {
    std::fprintf(stderr, "%s: %s\n", label_.c_str(), summary.empty() ? "done" : summary.c_str());
  }
  std::fflush(stderr);
}

}  // namespace xmkd::train
