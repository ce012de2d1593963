// Optimizers with PyTorch's update rules (torch.optim, single-tensor "foreach=False" path),
// bit-identical to them in float32 on the same inputs. Each update is one fused kernel per parameter
// (kernels/defs/optim.def). step() reads each parameter's accumulated .grad; parameters with no
// gradient are skipped, as PyTorch does.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/nn/module.h"

namespace xmkd::optim {

class Optimizer {
 public:
  explicit Optimizer(NamedTensors params, double lr);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  int64_t steps_taken() const { return step_; }
  // The optimizer's state, so that a checkpoint can resume training exactly:
  //   "optimizer.step"   int64 scalar, the number of step() calls
  //   "optimizer.lr"     float32 scalar, the current lr (on load, an lr that rounds to it is kept
  //                      as it is, so the same configuration resumes bit for bit)
  //   "<param>.<kind>"   per-parameter state, <param> as in the NamedTensors given: SGD keeps
  //                      "momentum_buffer" (float32, the parameter's shape) once it has one; Adam
  //                      keeps "exp_avg", "exp_avg_sq" (float32) and "step" (int64 scalar: the
  //                      steps this parameter took, as torch counts them per parameter).
  // The tensors share the optimizer's buffers (save them before the next step). Loading replaces
  // all per-parameter state; a parameter with no entries starts fresh, as on its first step.
  // Errors name the key: a missing optimizer.step / optimizer.lr, an unexpected key, a shape or
  // dtype mismatch (expected vs found).
  virtual TensorMap state_dict() const;
  virtual void load_state_dict(const TensorMap& state);

 protected:
  // Per-parameter state tensor `kind` ("momentum_buffer", "exp_avg", ...), zero-initialised on
  // first use, on the parameter's device.
  Tensor& state(size_t param_index, const std::string& kind);
  // The per-parameter state kinds this optimizer keeps (what load_state_dict accepts).
  virtual std::vector<std::string> state_kinds() const;
  // Throws, naming the optimizer and the parameter, unless grad matches param in shape, dtype
  // and device (a fused update reads both with one index).
  void check_gradient(const char* optimizer, size_t param_index, const Tensor& grad) const;

  NamedTensors params_;
  double lr_;
  int64_t step_ = 0;
  std::vector<std::map<std::string, Tensor>> state_;
};

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;   // L2: g += wd * p
  bool nesterov = false;
};
// g = grad + wd·p;  b = momentum·b + (1-dampening)·g (b = g on the first step);
// g = nesterov ? g + momentum·b : b;  p -= lr·g
class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, const SGDOptions& options);
  void step() override;
  SGDOptions options;

 protected:
  std::vector<std::string> state_kinds() const override { return {"momentum_buffer"}; }
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;   // Adam: L2 added to the gradient; AdamW: decoupled (p -= lr·wd·p)
};
// t += 1;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
// p -= (lr / (1-β1^t)) · m / (√v / √(1-β2^t) + eps)
class Adam : public Optimizer {
 public:
  Adam(NamedTensors params, const AdamOptions& options, bool decoupled_weight_decay = false);
  void step() override;
  AdamOptions options;

 protected:
  std::vector<std::string> state_kinds() const override { return {"exp_avg", "exp_avg_sq", "step"}; }

 private:
  bool decoupled_;
};
class AdamW : public Adam {
 public:
  // torch.optim.AdamW's default weight decay is 1e-2.
  AdamW(NamedTensors params, AdamOptions options) : Adam(std::move(params), options, true) {}
};

}  // namespace xmkd::optim
