// Tensor: a handle (shared_ptr) to a contiguous, row-major array with a shape, an element type
// and a device. Copying a Tensor copies the handle, not the data. NCHW is the image layout.
//
// Autograd state lives here too: requires_grad, the accumulated grad of a leaf, and grad_fn,
// the tape node that produced a non-leaf (see engine/autograd.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/storage.h"

namespace xmkd {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);   // "(4, 3, 64, 64)"
int64_t shape_numel(const Shape& shape);

class Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;   // undefined: defined() is false

  // --- creation -----------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value, Device device = Device::CPU);
  static Tensor scalar(float value, Device device = Device::CPU);
  // A CPU tensor in page-locked memory when CUDA can provide it (ordinary memory otherwise), so
  // that .to(Device::CUDA) is a DMA copy: what the data loader stages batches in.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::Float32);
  // Copies host values into a new tensor (float32, int32 or int64 by the vector's type).
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::CPU);
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }

  // --- properties ---------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim(int i) const;   // negative i counts from the end
  int ndim() const { return static_cast<int>(shape().size()); }
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  bool is_pinned() const;   // in the pinned host pool (see empty_pinned)
  std::string str() const;    // "float32 (4, 3, 64, 64) on cpu"

  // Raw element pointer; T must match dtype() (checked). Device memory for CUDA tensors.
  template <class T> T* data() const;
  void* raw_data() const;

  // --- data movement --------------------------------------------------------
  Tensor to(Device device) const;            // copy (or the same tensor when already there)
  Tensor clone() const;                      // deep copy on the same device, no autograd history
  void copy_from(const Tensor& src);         // element copy, same shape and dtype, any devices
  void move_to_(Device device);              // re-home this tensor's data in place (parameters)
  template <class T> std::vector<T> to_vector() const;   // host copy of the elements
  float item() const;                        // the single element of a one-element float tensor

  // View of the same data with another shape (same numel), no autograd history.
  // For a differentiable reshape use xmkd::reshape (engine/ops.h).
  Tensor view(const Shape& shape) const;

  // --- autograd -----------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);        // only on leaves
  bool is_leaf() const;
  Tensor grad() const;                       // accumulated gradient of a leaf (undefined if none)
  void set_grad(const Tensor& g);
  void zero_grad();                          // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> node);
  // Same data, no history: what a backward closure keeps of a tensor it must not own the graph of.
  Tensor detach() const;
  // Runs backward from this tensor. A scalar needs no gradient (1 is used); otherwise pass one
  // of this tensor's shape. Leaf gradients accumulate: call zero_grad() between steps.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  bool same_as(const Tensor& other) const { return impl_ == other.impl_; }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  // A new tensor of shape/dtype whose storage make_storage(bytes) provides.
  template <class MakeStorage>
  static Tensor with_new_storage(const Shape& shape, DType dtype, MakeStorage make_storage);
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  int64_t numel = 0;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  Tensor grad;                       // leaves only
  std::shared_ptr<Node> grad_fn;     // non-leaves only
};

// --- argument checks shared by every op ---------------------------------------------------
// Each throws xmkd::Error naming the op, the argument and what was expected vs got.
void check_defined(const char* op, const char* arg, const Tensor& t);
void check_dtype(const char* op, const char* arg, const Tensor& t, DType expected);
void check_ndim(const char* op, const char* arg, const Tensor& t, int expected);
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);

// `bytes` from src to dst, on any devices (kernels/cuda/runtime.h's ordering): what copy_from does
// for whole tensors, for the parts of one (the data-parallel buckets pack tensors at offsets).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace xmkd
