// Learning-rate schedules against PyTorch's schedulers (tools/torch_fixtures/optim.py) and by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/io/safetensors.h"
#include "engine/optim/schedule.h"
#include "tests/support/gradcheck.h"

namespace xmkd {
namespace {

using namespace optim;

// The closed forms are evaluated with the same double expressions, in the same order, as
// torch's _get_closed_form_lr, on the same libm: equal to within an ulp or two of a double
// (2e-16 relative; 1e-15 leaves room for another libm's cos or pow). torch's get_last_lr() uses
// recursive forms that multiply ~30 rounded ratios: measured within 6e-16 of the closed forms,
// bounded by ~30 · 2^-53 ≈ 4e-15 in theory; 1e-12 keeps three orders of margin over that.
constexpr double kClosedFormRtol = 1e-15;
constexpr double kTorchRecursiveRtol = 1e-12;

struct ScheduleFixture {
  TensorMap tensors;
  std::map<std::string, std::string> meta;

  double number(const std::string& key) const {
    auto it = meta.find(key);
    if (it == meta.end()) {
      ADD_FAILURE() << "optim_schedules fixture has no metadata '" << key << "'";
      return 0.0;
    }
    return std::stod(it->second);
  }
  // The float64 learning rates, stored as their bit patterns in an int64 tensor.
  std::vector<double> series(const std::string& key) const {
    std::vector<double> out;
    const Tensor t = testing::fixture_tensor(tensors, key);
    if (!t.defined()) return out;
    for (int64_t bits : t.to_vector<int64_t>()) {
      double v;
      std::memcpy(&v, &bits, 8);
      out.push_back(v);
    }
    return out;
  }
};

ScheduleFixture load_schedules() {
  ScheduleFixture f;
  f.tensors = io::load_safetensors(std::string(XMKD_FIXTURE_DIR) + "/optim_schedules.safetensors", &f.meta);
  return f;
}

void expect_schedule_matches(const LrSchedule& schedule, const ScheduleFixture& f, const std::string& name) {
  for (auto [suffix, rtol] : {std::pair<const char*, double>{".closed_bits", kClosedFormRtol},
                              std::pair<const char*, double>{".torch_bits", kTorchRecursiveRtol}}) {
    const std::vector<double> expected = f.series(name + suffix);
    ASSERT_EQ(expected.size(), 31u) << name << suffix;
    for (size_t t = 0; t < expected.size(); ++t) {
      const double got = schedule.lr_at(static_cast<int64_t>(t));
      EXPECT_LE(std::abs(got - expected[t]), rtol * std::abs(expected[t]))
          << name << suffix << " at t = " << t << ": " << got << " vs " << expected[t];
    }
  }
}

TEST(ScheduleParity, StepLrMatchesTorch) {
  const auto f = load_schedules();
  StepLr s(f.number("step.base_lr"), static_cast<int64_t>(f.number("step.step_size")), f.number("step.gamma"));
  expect_schedule_matches(s, f, "step");
}

TEST(ScheduleParity, CosineLrMatchesTorch) {
  const auto f = load_schedules();
  CosineLr s(f.number("cosine.base_lr"), static_cast<int64_t>(f.number("cosine.t_max")), f.number("cosine.eta_min"));
  expect_schedule_matches(s, f, "cosine");
}

TEST(ScheduleParity, PolyLrMatchesTorch) {
  const auto f = load_schedules();
  PolyLr s(f.number("poly.base_lr"), static_cast<int64_t>(f.number("poly.total")), f.number("poly.power"));
  expect_schedule_matches(s, f, "poly");
}

TEST(ScheduleParity, WarmupThenCosineMatchesLinearLrAndSequentialLr) {
  const auto f = load_schedules();
  auto cosine = std::make_shared<CosineLr>(f.number("warmup_cosine.base_lr"),
                                           static_cast<int64_t>(f.number("warmup_cosine.t_max")), 0.0);
  WarmupLr s(cosine, static_cast<int64_t>(f.number("warmup_cosine.warmup")), f.number("warmup_cosine.start_factor"));
  expect_schedule_matches(s, f, "warmup_cosine");
}

TEST(Schedule, HandValues) {
  StepLr step(0.1, 10, 0.1);
  EXPECT_DOUBLE_EQ(step.lr_at(9), 0.1);
  EXPECT_DOUBLE_EQ(step.lr_at(10), 0.1 * 0.1);
  EXPECT_DOUBLE_EQ(step.lr_at(25), 0.1 * 0.1 * 0.1);

  CosineLr cosine(1.0, 100, 0.2);
  EXPECT_DOUBLE_EQ(cosine.lr_at(0), 1.0);
  EXPECT_NEAR(cosine.lr_at(50), 0.6, 1e-15);
  EXPECT_DOUBLE_EQ(cosine.lr_at(100), 0.2);
  EXPECT_DOUBLE_EQ(cosine.lr_at(250), 0.2);   // held at eta_min past t_max

  PolyLr poly(0.5, 4, 1.0);
  EXPECT_DOUBLE_EQ(poly.lr_at(1), 0.375);
  EXPECT_DOUBLE_EQ(poly.lr_at(4), 0.0);
  EXPECT_DOUBLE_EQ(poly.lr_at(9), 0.0);
  EXPECT_NEAR(PolyLr(1.0, 100, 0.9).lr_at(50), std::pow(0.5, 0.9), 1e-15);

  WarmupLr warm(std::make_shared<StepLr>(0.2, 5, 0.5), 4, 0.5);
  EXPECT_DOUBLE_EQ(warm.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(warm.lr_at(2), 0.15);
  EXPECT_DOUBLE_EQ(warm.lr_at(4), 0.2);        // the follower's t = 0
  EXPECT_DOUBLE_EQ(warm.lr_at(4 + 5), 0.1);    // the follower's first decay
  WarmupLr none(std::make_shared<StepLr>(0.2, 5, 0.5), 0);
  EXPECT_DOUBLE_EQ(none.lr_at(0), 0.2);
}

TEST(Schedule, BadArgumentsAreRejected) {
  EXPECT_THROW(StepLr(0.1, 0, 0.5), Error);
  EXPECT_THROW(CosineLr(0.1, 0), Error);
  EXPECT_THROW(PolyLr(0.1, 0), Error);
  EXPECT_THROW(WarmupLr(nullptr, 5), Error);
  EXPECT_THROW(WarmupLr(std::make_shared<StepLr>(0.1, 1, 1.0), 5, 1.5), Error);
  try {
    StepLr(0.1, 3, 0.5).lr_at(-1);
    ADD_FAILURE() << "a negative step count was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("StepLr"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace xmkd
