// Autograd: a define-by-run tape.
//
// An op whose inputs need gradients records a Node on its output: the op's name, one Edge per
// input, and a backward closure that maps the gradient of the output to one gradient per input
// (an undefined Tensor where an input gets none). The closure captures what backward needs and
// only that; tensors it captures are detach()ed so that a node never owns its own output.
// An Edge refers to the producer Node of a non-leaf input, or to the leaf itself, never to a
// non-leaf tensor's data, so recording an op keeps no activation alive that backward won't use.
//
// backward(root) visits the nodes reachable from root in reverse topological order, sums the
// gradients arriving at each node, and calls its closure. Gradients of leaves ACCUMULATE:
// leaf.grad += dL/dleaf on every backward, until leaf.zero_grad(). After a node has run, its
// closure is released (freeing the saved tensors) unless retain_graph is set.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace xmkd {

using GradList = std::vector<Tensor>;
using BackwardFn = std::function<GradList(const Tensor& grad_output)>;

struct Edge {
  std::shared_ptr<Node> producer;        // set when the input is a non-leaf
  std::shared_ptr<TensorImpl> leaf;      // set when the input is a leaf that requires grad
  Shape shape;                           // the input's shape, to check the gradient against
};

class Node {
 public:
  Node(const char* op, const std::vector<Tensor>& inputs, BackwardFn backward);

  const char* op() const { return op_; }
  const std::vector<Edge>& edges() const { return edges_; }

  // Runs the backward closure and checks it returned one gradient of the right shape per input.
  GradList apply(const Tensor& grad_output);
  void release();   // drops the closure and everything it captured

 private:
  const char* op_;
  std::vector<Edge> edges_;
  BackwardFn backward_;
};

// Gradient mode: on by default; NoGradGuard turns it off in a scope (evaluation, optimizer steps,
// the backward pass itself). Ops record nothing while it is off.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and at least one of the (defined) inputs requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `op` on `output` when needs_grad(inputs); otherwise does nothing.
void record(const char* op, Tensor& output, const std::vector<Tensor>& inputs, BackwardFn backward);

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

// Called by backward, on its thread, once per leaf reached from the root as soon as that leaf's
// gradient for this backward is complete: every node with an edge to the leaf has run (or
// received no gradient). The leaf's grad holds the accumulated value then. Leaves are reported
// in the order backward completes them; what the data-parallel gradient all-reduce starts its
// buckets on (engine/distributed.h).
using LeafGradHook = std::function<void(TensorImpl* leaf)>;
// Installs a hook for the backward passes run on this thread within its scope.
class LeafGradHookGuard {
 public:
  explicit LeafGradHookGuard(LeafGradHook hook);
  ~LeafGradHookGuard();
  LeafGradHookGuard(const LeafGradHookGuard&) = delete;
  LeafGradHookGuard& operator=(const LeafGradHookGuard&) = delete;

 private:
  LeafGradHook previous_;
};

}  // namespace xmkd
