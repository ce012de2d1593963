// The teacher→student distillation losses (losses/distill.h, docs/methods.md, Baselines; formulas in
// docs/losses.md). Every loss works on rows: the logit vectors of the labelled positions, (R, C),
// with their labels (R); classification logits (N, C) are rows already, per-pixel logits
// (N, C, H, W) become N·H·W rows. Positions labelled ignore_index are dropped before any
// distillation term, so they contribute to neither the loss nor the gradient.
#include "losses/distill.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "losses/ops.h"

namespace xmkd::losses {
namespace {

const std::vector<std::string> kKinds = {"kdv1", "kdv2", "dkd", "ctkd", "mlkd"};
constexpr float kLskdEps = 1e-7f;
// DKD's non-target softmax leaves the target class out by lowering its (already tempered) logit
// by this much: exp(−1000) is 0 in float, so the target gets probability exactly 0.
constexpr float kTargetMask = 1000.0f;

double positive(const io::ConfigNode& config, const std::string& key, double fallback) {
  const double v = config.get_float(key, fallback);
  if (!(std::isfinite(v) && v > 0.0)) config.fail(key, "expected a positive number, got " + std::to_string(v));
  return v;
}

double non_negative(const io::ConfigNode& config, const std::string& key, double fallback) {
  const double v = config.get_float(key, fallback);
  if (!(std::isfinite(v) && v >= 0.0)) config.fail(key, "expected a number >= 0, got " + std::to_string(v));
  return v;
}

// The labelled positions as rows: student (R, C) (differentiable), teacher (R, C) (detached),
// labels (R) int64 on the logits' device, checked on the host once.
struct Rows {
  Tensor student, teacher;
  std::optional<CheckedIndex> labels;
  int64_t count() const { return labels->tensor().dim(0); }
};

Rows labelled_rows(const Tensor& student, const Tensor& teacher, const Tensor& labels, int64_t ignore_index) {
  const std::vector<int64_t> all = labels.dtype() == DType::Int64
                                       ? labels.to_vector<int64_t>()
                                       : [&] {
                                           const std::vector<int32_t> v = labels.to_vector<int32_t>();
                                           return std::vector<int64_t>(v.begin(), v.end());
                                         }();
  std::vector<int64_t> index, kept;
  for (size_t p = 0; p < all.size(); ++p) {
    if (all[p] == ignore_index) continue;
    index.push_back(static_cast<int64_t>(p));
    kept.push_back(all[p]);
  }
  const Device device = student.device();
  const int64_t R = static_cast<int64_t>(kept.size());
  // The labels are read on the host once, here (the rows kept depend on them); the row index and
  // the labels are checked there too, so the row ops below read nothing back from the device.
  Rows rows;
  rows.student = to_rows(student);
  rows.teacher = to_rows(teacher.detach());
  rows.labels.emplace(kept, student.dim(1), device, "distillation: label");
  if (R != static_cast<int64_t>(all.size())) {
    const CheckedIndex rows_index(index, static_cast<int64_t>(all.size()), device, "distillation: labelled row");
    rows.student = select_rows(rows.student, rows_index);
    rows.teacher = select_rows(rows.teacher, rows_index);
  }
  return rows;
}

Tensor tempered(const Tensor& logits, double temperature) { return scale(logits, static_cast<float>(1.0 / temperature)); }

}  // namespace

DistillOptions parse_distill_options(const io::ConfigNode& config) {
  DistillOptions o;
  o.kind = config.get_choice("kind", o.kind, kKinds);
  o.lskd = config.get_bool("lskd", o.lskd);
  o.ignore_index = config.get_int("ignore_index", o.ignore_index);
  // Only the keys a kind uses are read, so a key meant for another kind is reported as unused.
  if (o.kind == "kdv1" || o.kind == "kdv2") {
    o.temperature = positive(config, "temperature", o.temperature);
    if (o.kind == "kdv1") {
      o.alpha = 0.0;
    } else {
      o.alpha = config.get_float("alpha", 0.5);
      if (!(o.alpha >= 0.0 && o.alpha <= 1.0)) config.fail("alpha", "expected a number in [0, 1], got " + std::to_string(o.alpha));
    }
  } else if (o.kind == "dkd") {
    o.temperature = positive(config, "temperature", o.temperature);
    o.alpha = non_negative(config, "alpha", 1.0);
    o.beta = non_negative(config, "beta", o.beta);
    o.warmup_epochs = non_negative(config, "warmup_epochs", o.warmup_epochs);
  } else if (o.kind == "ctkd") {
    o.temperature = positive(config, "temperature", o.temperature);
    o.temperature_min = positive(config, "temperature_min", o.temperature_min);
    o.temperature_max = positive(config, "temperature_max", o.temperature_max);
    if (!(o.temperature_min < o.temperature && o.temperature < o.temperature_max))
      config.fail("temperature", "the initial temperature must lie strictly between temperature_min (" +
                                     std::to_string(o.temperature_min) + ") and temperature_max (" +
                                     std::to_string(o.temperature_max) + "), got " + std::to_string(o.temperature));
    o.lambda_min = non_negative(config, "lambda_min", o.lambda_min);
    o.lambda_max = non_negative(config, "lambda_max", o.lambda_max);
  } else {
    o.temperatures = config.get_floats("temperatures", o.temperatures);
    if (o.temperatures.empty()) config.fail("temperatures", "expected at least one temperature");
    for (double t : o.temperatures)
      if (!(std::isfinite(t) && t > 0.0)) config.fail("temperatures", "expected positive numbers, got " + std::to_string(t));
  }
  return o;
}

Distiller::Distiller(DistillOptions options) : options_(std::move(options)) {
  if (options_.kind == "kdv1") options_.alpha = 0.0;
  const auto& o = options_;
  bool known = false;
  for (const auto& k : kKinds) known = known || k == o.kind;
  XMKD_CHECK(known, "Distiller: unknown kind '", o.kind, "' (expected kdv1, kdv2, dkd, ctkd or mlkd)");
  if (o.kind == "ctkd") {
    XMKD_CHECK(o.temperature_min < o.temperature && o.temperature < o.temperature_max,
               "Distiller: ctkd's initial temperature ", o.temperature, " must lie strictly between temperature_min ",
               o.temperature_min, " and temperature_max ", o.temperature_max);
    // θ = logit((T0 − min) / (max − min)), so that training starts at T = T0.
    const double u = (o.temperature - o.temperature_min) / (o.temperature_max - o.temperature_min);
    temperature_logit_ = register_parameter("temperature_logit", Tensor::full({1}, static_cast<float>(std::log(u / (1.0 - u)))));
  }
  if (o.kind == "mlkd") XMKD_CHECK(!o.temperatures.empty(), "Distiller: mlkd needs at least one temperature");
}

LossTerms Distiller::loss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                          const TrainProgress& progress) {
  const auto& o = options_;
  check_dtype("Distiller", "student", student, DType::Float32);
  check_dtype("Distiller", "teacher", teacher, DType::Float32);
  XMKD_CHECK(student.ndim() == 2 || student.ndim() == 4, "Distiller (", o.kind,
             "): student logits must be (N,C) or (N,C,H,W), got shape ", shape_str(student.shape()));
  XMKD_CHECK(student.shape() == teacher.shape(), "Distiller (", o.kind, "): student logits ",
             shape_str(student.shape()), " and teacher logits ", shape_str(teacher.shape()), " differ in shape");
  check_same_device("Distiller", student, teacher);

  CrossEntropyOptions ce_options;
  ce_options.ignore_index = o.ignore_index;
  const Tensor ce = cross_entropy(student, labels, ce_options);   // checks the labels' shape and values

  Rows rows = labelled_rows(student, teacher, labels, o.ignore_index);
  if (o.lskd) {
    rows.student = zscore(rows.student, kLskdEps);
    rows.teacher = zscore(rows.teacher, kLskdEps);
  }
  const Tensor& s = rows.student;
  const Tensor& t = rows.teacher;
  const bool any = rows.count() > 0;   // no labelled position: every distillation term is 0
  const Tensor zero = Tensor::scalar(0.0f, student.device());

  LossTerms terms;
  auto part = [&](const std::string& name, const Tensor& value) { terms.parts.emplace_back(name, value.detach()); };
  Tensor kd;
  double ce_weight = 1.0;

  if (o.kind == "kdv1" || o.kind == "kdv2") {
    ce_weight = o.alpha;
    kd = any ? scale(kl_div_with_temperature(s, t, static_cast<float>(o.temperature)), static_cast<float>(1.0 - o.alpha))
             : zero;
  } else if (o.kind == "dkd") {
    const double T = o.temperature;
    Tensor tckd = zero, nckd = zero;
    if (any) {
      const Tensor st = tempered(s, T), tt = tempered(t, T);
      // Binary (target, non-target) distribution as 2-class logits: [z_y, log Σ_{j≠y} exp z_j].
      auto binary = [&](const Tensor& z) {
        return concat_channels({gather_labels(z, *rows.labels), logsumexp_rows(add_at_labels(z, *rows.labels, -kTargetMask))});
      };
      tckd = scale(kl_div_logits(binary(st), binary(tt)), static_cast<float>(T * T));
      nckd = scale(kl_div_logits(add_at_labels(st, *rows.labels, -kTargetMask), add_at_labels(tt, *rows.labels, -kTargetMask)),
                   static_cast<float>(T * T));
    }
    const double epoch = progress.fraction() * static_cast<double>(progress.epochs);
    const double ramp = o.warmup_epochs > 0.0 ? std::min(epoch / o.warmup_epochs, 1.0) : 1.0;
    kd = scale(add(scale(tckd, static_cast<float>(o.alpha)), scale(nckd, static_cast<float>(o.beta))),
               static_cast<float>(ramp));
    part("dkd_tckd", tckd);
    part("dkd_nckd", nckd);
  } else if (o.kind == "ctkd") {
    // λ rises from lambda_min to lambda_max along half a cosine over training.
    const double lambda =
        o.lambda_min + (o.lambda_max - o.lambda_min) * 0.5 * (1.0 - std::cos(std::acos(-1.0) * progress.fraction()));
    const Tensor range = scale(sigmoid(temperature_logit_), static_cast<float>(o.temperature_max - o.temperature_min));
    const Tensor T = gradient_reversal(add(range, Tensor::scalar(static_cast<float>(o.temperature_min), student.device())),
                                       static_cast<float>(lambda));
    if (any) {
      const Tensor inverse = reciprocal(T);
      kd = mul(kl_div_logits(mul(s, inverse), mul(t, inverse)), mul(T, T));
    } else {
      kd = zero;
    }
    part("temperature", reshape(T, {}));
  } else {
    Tensor instance = zero, batch = zero, klass = zero;
    if (any) {
      // Pᵀ·P sums over the rows. Per pixel there are H·W rows per image, which would make the
      // class term ~(H·W)² times its classification size and swamp the cross-entropy; it is
      // rescaled by N/R to the size of a batch of N samples (1 for class logits), i.e. the MSE by (N/R)².
      const double class_scale =
          student.ndim() == 4 ? static_cast<double>(student.dim(0)) / static_cast<double>(rows.count()) : 1.0;
      for (double T : o.temperatures) {
        instance = add(instance, kl_div_with_temperature(s, t, static_cast<float>(T)));
        const Tensor ps = softmax(tempered(s, T)), pt = softmax(tempered(t, T));
        batch = add(batch, gram_rows_mse(ps, pt));
        klass = add(klass, scale(mse_loss(matmul(ps, ps, true, false), matmul(pt, pt, true, false)),
                                 static_cast<float>(class_scale * class_scale)));
      }
    }
    kd = add(add(instance, batch), klass);
    part("mlkd_instance", instance);
    part("mlkd_batch", batch);
    part("mlkd_class", klass);
  }

  terms.total = ce_weight == 0.0 ? kd : add(scale(ce, static_cast<float>(ce_weight)), kd);
  terms.parts.insert(terms.parts.begin(), {{"ce", ce.detach()}, {"kd", kd.detach()}});
  return terms;
}

}  // namespace xmkd::losses
