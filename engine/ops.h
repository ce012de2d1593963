// The differentiable op API. Every function here:
//  - checks its arguments and throws xmkd::Error naming the op and the offending shapes, dtypes
//    or devices (no silent broadcasting beyond what is documented on the op);
//  - runs its forward kernel on the inputs' device through XMKD_DISPATCH (engine/dispatch.h);
//  - records a tape node when an input requires grad (engine/autograd.h).
// Layout: NCHW, contiguous. "dim 1" is the channel / class dimension; for a tensor of shape
// (N, C, d2, d3, ...) the ops that work "over dim 1" treat every (n, d2, d3, ...) as a position.
// Implementations: engine/ops/<family>.cpp, kernels in kernels/cpu/ and kernels/cuda/.
#pragma once
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace xmkd {

class Communicator;   // engine/distributed.h

// ---- elementwise (engine/ops/elementwise.cpp) ----------------------------------------------
// a + b where b has a's shape, or b is (C) and is added to every channel of a (N,C,...) (a bias),
// or b has one element (a scalar tensor).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);            // same shapes
// a * b where b has a's shape, or b has one element (a scalar tensor, e.g. a learnable factor).
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);                  // s * x
Tensor relu(const Tensor& x);
Tensor add_relu(const Tensor& a, const Tensor& b);       // relu(a + b), same shapes (residual join)

// ---- linear algebra (engine/ops/linalg.cpp; GEMM through cblas / cuBLAS) -------------------
// op(a) @ op(b) with op = transpose when the flag is set. a: (M,K) or (K,M); b: (K,N) or (N,K).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// x: (N,in)  weight: (out,in)  bias: (out) or undefined  ->  (N,out) = x weightᵀ + bias
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- convolution (engine/ops/conv.cpp) -----------------------------------------------------
struct Conv2dOptions {
  int stride = 1;
  int padding = 0;     // zero padding on every side
  int dilation = 1;
};
// x: (N,C,H,W)  weight: (K,C,R,S)  bias: (K) or undefined  ->  (N,K,P,Q)
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options = {});

// ---- pooling and resizing (engine/ops/pool.cpp) ---------------------------------------------
// x: (N,C,H,W), square window; padded positions never win (PyTorch's -inf padding).
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding = 0);
// PyTorch's adaptive bins: rows [floor(i*H/P), ceil((i+1)*H/P)), likewise columns.
Tensor adaptive_avg_pool2d(const Tensor& x, int out_h, int out_w);
Tensor global_avg_pool(const Tensor& x);                 // (N,C,H,W) -> (N,C)
// Bilinear resize to (out_h, out_w) with align_corners=false (PyTorch's F.interpolate default).
Tensor upsample_bilinear(const Tensor& x, int out_h, int out_w);

// ---- normalisation (engine/ops/norm.cpp) ----------------------------------------------------
// x: (N,C) or (N,C,H,W); weight, bias, running_mean, running_var: (C).
// training: normalise with the batch mean and biased variance, and update the running stats in
// place: running = (1 - momentum) * running + momentum * batch, with the UNBIASED batch variance
// (n/(n-1)) for running_var, as PyTorch. Not training: normalise with the running stats.
// running_mean/var may be undefined only when training (then they are not updated).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);
// Training batch norm whose statistics are those of the batches of every rank of comm together
// (engine/distributed.h), from two passes of per-rank sums summed over the ranks (the mean, then
// the variance about it); running_mean and running_var are updated
// as batch_norm's, from the ranks' statistics. Backward sums Σ dy and Σ dy·x̂ over the ranks for
// dx; dweight and dbias are this rank's (the gradient all-reduce averages them). A collective:
// every rank calls it, and runs its backward, in the same order. With one rank it is batch_norm.
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, Communicator& comm, float momentum = 0.1f, float eps = 1e-5f);

// ---- shape (engine/ops/shape.cpp) -----------------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);    // same numel; one dim may be -1
Tensor flatten(const Tensor& x);                         // (N, ...) -> (N, prod(...))
// Concatenation along dim 1 of tensors that agree on every other dim.
Tensor concat_channels(const std::vector<Tensor>& xs);
Tensor slice_channels(const Tensor& x, int64_t begin, int64_t end);   // x[:, begin:end]
std::vector<Tensor> split_channels(const Tensor& x, const std::vector<int64_t>& sizes);

// ---- reductions (engine/ops/reduce.cpp) -----------------------------------------------------
Tensor sum(const Tensor& x);                             // -> scalar (shape ())
Tensor mean(const Tensor& x);                            // -> scalar

// ---- regularisation and gradient tricks (engine/ops/regularize.cpp) ------------------------
// Inverted dropout: training keeps each element with probability 1-p and scales it by 1/(1-p);
// not training (or p == 0) returns x unchanged. The mask is drawn from `gen` on the CPU.
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen = default_generator());
// Gradient reversal: forward is the identity, backward multiplies the gradient by -lambda.
Tensor gradient_reversal(const Tensor& x, float lambda);

// ---- probabilities and losses over dim 1 (engine/ops/softmax_loss.cpp) ----------------------
Tensor softmax(const Tensor& x);                         // over dim 1, any rank >= 2
Tensor log_softmax(const Tensor& x);
// The label of an unlabelled pixel in every segmentation label map xmkd reads or writes (8-bit
// label PNGs keep 255 for "void"); the classification default stays PyTorch's -100.
constexpr int64_t kIgnoreLabel = 255;
struct CrossEntropyOptions {
  int64_t ignore_index = -100;   // labels equal to this contribute nothing (kIgnoreLabel for segmentation)
  Tensor class_weights;          // (C) or undefined
};
// logits: (N,C) with labels (N), or (N,C,H,W) with labels (N,H,W); labels int32 or int64.
// Mean over non-ignored positions; with class weights, sum(w_y * loss) / sum(w_y) (PyTorch).
// Every position ignored: the loss is nan (0/0) and the gradient zero, as PyTorch.
// Labels outside [0, C) that are not ignore_index are an error naming the label and C.
// Gradient to logits only.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const CrossEntropyOptions& options = {});
// Mean over positions of KL(softmax(teacher) || softmax(student)) over dim 1; gradients to both.
// For (N,C) logits this is PyTorch's kl_div(log_softmax(s), softmax(t), reduction='batchmean').
Tensor kl_div_logits(const Tensor& student_logits, const Tensor& teacher_logits);
// Knowledge-distillation form: T² · kl_div_logits(student / T, teacher / T).
Tensor kl_div_with_temperature(const Tensor& student_logits, const Tensor& teacher_logits, float temperature);

// ---- distances and similarities (engine/ops/similarity.cpp) ---------------------------------
Tensor mse_loss(const Tensor& a, const Tensor& b);       // mean((a - b)²), same shapes
// Over dim 1:
// a, b: (N,D) -> (N), or (N,C,H,W) -> (N,H,W) (the channel vectors at each position).
// cos = a·b / (max(|a|, eps) · max(|b|, eps))  (PyTorch 1.13's cosine_similarity: each norm is
// clamped on its own; the gradient uses the clamped norms as the norms, as PyTorch's does).
Tensor cosine_similarity(const Tensor& a, const Tensor& b, float eps = 1e-8f);
// x / max(|x|, eps) over dim 1 (PyTorch's F.normalize).
Tensor l2_normalize(const Tensor& x, float eps = 1e-12f);

}  // namespace xmkd
