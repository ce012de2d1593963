#include "engine/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "kernels/cuda/runtime.h"

namespace xmkd {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ",";
  os << ")";
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  bool empty = false;
  for (int64_t d : shape) {
    XMKD_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
    empty = empty || d == 0;
  }
  if (empty) return 0;
  // At most 2^60 elements, so that the byte count of any dtype fits in 63 bits: a corrupt file
  // header must not wrap a size check around to a small number.
  constexpr int64_t kMaxNumel = int64_t{1} << 60;
  int64_t n = 1;
  for (int64_t d : shape) {
    XMKD_CHECK(n <= kMaxNumel / d, "shape ", shape_str(shape), " has more than 2^60 elements");
    n *= d;
  }
  return n;
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) std::memcpy(dst, src, bytes);
  else if (dst_dev == Device::CUDA && src_dev == Device::CPU) cuda::copy_host_to_device(dst, src, bytes);
  else if (dst_dev == Device::CPU && src_dev == Device::CUDA) cuda::copy_device_to_host(dst, src, bytes);
  else cuda::copy_device_to_device(dst, src, bytes);
}

// --- creation --------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return with_new_storage(shape, dtype, [device](size_t bytes) { return std::make_shared<Storage>(bytes, device); });
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  return with_new_storage(shape, dtype, [](size_t bytes) { return Storage::pinned_host(bytes); });
}

template <class MakeStorage>
Tensor Tensor::with_new_storage(const Shape& shape, DType dtype, MakeStorage make_storage) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->numel = shape_numel(shape);
  impl->dtype = dtype;
  impl->storage = make_storage(static_cast<size_t>(impl->numel) * dtype_size(dtype));
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device == Device::CPU) std::memset(t.raw_data(), 0, t.nbytes());
  else cuda::memset_zero(t.raw_data(), t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, DType::Float32, device);
  XMKD_DISPATCH(device, fill, t.data<float>(), t.numel(), value);
  return t;
}

Tensor Tensor::ones(const Shape& shape, Device device) { return full(shape, 1.0f, device); }

Tensor Tensor::scalar(float value, Device device) { return full({}, value, device); }

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  XMKD_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "Tensor::from_vector: ",
             values.size(), " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>::value, device);
  copy_bytes(t.raw_data(), device, values.data(), Device::CPU, t.nbytes());
  return t;
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor Tensor::from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, Device);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);

// --- properties ------------------------------------------------------------------------------

#define XMKD_REQUIRE_DEFINED(what) XMKD_CHECK(impl_, "Tensor::", what, " called on an undefined tensor")

const Shape& Tensor::shape() const {
  XMKD_REQUIRE_DEFINED("shape");
  return impl_->shape;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  int j = i < 0 ? i + n : i;
  XMKD_CHECK(j >= 0 && j < n, "Tensor::dim(", i, ") out of range for shape ", shape_str(shape()));
  return impl_->shape[j];
}

int64_t Tensor::numel() const {
  XMKD_REQUIRE_DEFINED("numel");
  return impl_->numel;
}
DType Tensor::dtype() const {
  XMKD_REQUIRE_DEFINED("dtype");
  return impl_->dtype;
}
Device Tensor::device() const {
  XMKD_REQUIRE_DEFINED("device");
  return impl_->storage->device();
}

std::string Tensor::str() const {
  if (!impl_) return "undefined tensor";
  return str_cat(dtype_name(dtype()), " ", shape_str(shape()), " on ", device_name(device()));
}

bool Tensor::is_pinned() const { return impl_ && impl_->storage->pinned(); }

void* Tensor::raw_data() const {
  XMKD_REQUIRE_DEFINED("data");
  return impl_->storage->data();
}

template <class T>
T* Tensor::data() const {
  XMKD_REQUIRE_DEFINED("data");
  XMKD_CHECK(impl_->dtype == dtype_of<T>::value, "Tensor::data<", dtype_name(dtype_of<T>::value),
             ">() on a ", str());
  return static_cast<T*>(impl_->storage->data());
}
template float* Tensor::data<float>() const;
template int32_t* Tensor::data<int32_t>() const;
template int64_t* Tensor::data<int64_t>() const;

// --- data movement -----------------------------------------------------------------------------

Tensor Tensor::to(Device device) const {
  XMKD_REQUIRE_DEFINED("to");
  if (device == this->device()) return *this;
  Tensor t = empty(shape(), dtype(), device);
  copy_bytes(t.raw_data(), device, raw_data(), this->device(), nbytes());
  return t;
}

Tensor Tensor::clone() const {
  XMKD_REQUIRE_DEFINED("clone");
  Tensor t = empty(shape(), dtype(), device());
  copy_bytes(t.raw_data(), device(), raw_data(), device(), nbytes());
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  XMKD_REQUIRE_DEFINED("copy_from");
  check_defined("copy_from", "src", src);
  XMKD_CHECK(src.shape() == shape() && src.dtype() == dtype(), "Tensor::copy_from: source ",
             src.str(), " does not match destination ", str());
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
}

void Tensor::move_to_(Device device) {
  XMKD_REQUIRE_DEFINED("move_to_");
  if (device == this->device()) return;
  Tensor moved = to(device);
  impl_->storage = moved.impl_->storage;
  if (impl_->grad.defined()) impl_->grad = impl_->grad.to(device);
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  XMKD_REQUIRE_DEFINED("to_vector");
  XMKD_CHECK(dtype() == dtype_of<T>::value, "Tensor::to_vector<", dtype_name(dtype_of<T>::value),
             "> on a ", str());
  std::vector<T> out(static_cast<size_t>(numel()));
  copy_bytes(out.data(), Device::CPU, raw_data(), device(), nbytes());
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

float Tensor::item() const {
  XMKD_CHECK(defined() && numel() == 1 && dtype() == DType::Float32,
             "Tensor::item() needs a one-element float32 tensor, got ", str());
  return to_vector<float>()[0];
}

Tensor Tensor::view(const Shape& new_shape) const {
  XMKD_REQUIRE_DEFINED("view");
  XMKD_CHECK(shape_numel(new_shape) == numel(), "view: cannot view ", str(), " as shape ",
             shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = new_shape;
  impl->numel = impl_->numel;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

// --- autograd ---------------------------------------------------------------------------------

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  XMKD_REQUIRE_DEFINED("set_requires_grad");
  XMKD_CHECK(is_leaf(), "set_requires_grad: only leaf tensors (not produced by an op) can change it");
  XMKD_CHECK(!on || dtype() == DType::Float32, "set_requires_grad: only float32 tensors can require grad, got ", str());
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_ || !impl_->grad_fn; }

Tensor Tensor::grad() const {
  XMKD_REQUIRE_DEFINED("grad");
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& g) {
  XMKD_REQUIRE_DEFINED("set_grad");
  XMKD_CHECK(!g.defined() || (g.shape() == shape() && g.device() == device()),
             "set_grad: gradient ", g.str(), " does not match tensor ", str());
  impl_->grad = g;
}

void Tensor::zero_grad() {
  XMKD_REQUIRE_DEFINED("zero_grad");
  impl_->grad = Tensor();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl_ ? impl_->grad_fn : none;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> node) {
  XMKD_REQUIRE_DEFINED("set_grad_fn");
  impl_->grad_fn = std::move(node);
  impl_->requires_grad = impl_->grad_fn != nullptr;
}

Tensor Tensor::detach() const {
  if (!impl_) return Tensor();
  return view(shape());
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  XMKD_REQUIRE_DEFINED("backward");
  run_backward(*this, grad, retain_graph);
}

// --- argument checks --------------------------------------------------------------------------

void check_defined(const char* op, const char* arg, const Tensor& t) {
  XMKD_CHECK(t.defined(), op, ": argument '", arg, "' is an undefined tensor");
}

void check_dtype(const char* op, const char* arg, const Tensor& t, DType expected) {
  check_defined(op, arg, t);
  XMKD_CHECK(t.dtype() == expected, op, ": '", arg, "' must be ", dtype_name(expected), ", got ", t.str());
}

void check_ndim(const char* op, const char* arg, const Tensor& t, int expected) {
  check_defined(op, arg, t);
  XMKD_CHECK(t.ndim() == expected, op, ": '", arg, "' must have ", expected, " dimensions, got shape ",
             shape_str(t.shape()));
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  XMKD_CHECK(a.shape() == b.shape(), op, ": shapes differ: ", shape_str(a.shape()), " vs ",
             shape_str(b.shape()));
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  XMKD_CHECK(a.device() == b.device(), op, ": tensors on different devices: ", a.str(), " vs ", b.str());
}

}  // namespace xmkd
