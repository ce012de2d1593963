#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/dispatch.h"

namespace xmkd {

namespace {
thread_local bool g_grad_enabled = true;
thread_local LeafGradHook g_leaf_grad_hook;

bool uniquely_owned(const Tensor& t) {
  return t.impl().use_count() == 1 && t.impl()->storage.use_count() == 1;
}

// acc += g, in place when nobody else can see acc, otherwise into a fresh tensor.
void accumulate(Tensor& acc, Tensor g) {
  if (!acc.defined()) {
    acc = std::move(g);
    return;
  }
  if (!uniquely_owned(acc)) acc = acc.clone();
  XMKD_DISPATCH(acc.device(), axpy, acc.numel(), 1.0f, g.data<float>(), acc.data<float>());
}
}  // namespace

LeafGradHookGuard::LeafGradHookGuard(LeafGradHook hook) : previous_(std::move(g_leaf_grad_hook)) {
  g_leaf_grad_hook = std::move(hook);
}
LeafGradHookGuard::~LeafGradHookGuard() { g_leaf_grad_hook = std::move(previous_); }

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Node::Node(const char* op, const std::vector<Tensor>& inputs, BackwardFn backward)
    : op_(op), backward_(std::move(backward)) {
  edges_.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined()) {
      e.shape = t.shape();
      if (t.grad_fn()) e.producer = t.grad_fn();
      else if (t.requires_grad()) e.leaf = t.impl();
    }
    edges_.push_back(std::move(e));
  }
}

GradList Node::apply(const Tensor& grad_output) {
  XMKD_CHECK(backward_, "backward through '", op_, "' a second time: its saved tensors were freed; ",
             "pass retain_graph=true to the first backward() if you need this");
  GradList grads = backward_(grad_output);
  XMKD_CHECK(grads.size() == edges_.size(), "internal: backward of '", op_, "' returned ", grads.size(),
             " gradients for ", edges_.size(), " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    XMKD_CHECK(grads[i].shape() == edges_[i].shape, "internal: backward of '", op_, "' gave input ", i,
               " a gradient of shape ", shape_str(grads[i].shape()), ", expected ",
               shape_str(edges_[i].shape));
  }
  return grads;
}

void Node::release() {
  backward_ = nullptr;
  edges_.clear();
}

void record(const char* op, Tensor& output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return;
  output.set_grad_fn(std::make_shared<Node>(op, inputs, std::move(backward)));
}

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  XMKD_CHECK(root.requires_grad(), "backward: the tensor ", root.str(),
             " does not require grad (no input of the ops that made it requires grad)");
  Tensor seed = grad;
  if (!seed.defined()) {
    XMKD_CHECK(root.numel() == 1, "backward: a gradient must be given for the non-scalar tensor ", root.str());
    seed = Tensor::ones(root.shape(), root.device());
  }
  XMKD_CHECK(seed.shape() == root.shape() && seed.device() == root.device(), "backward: gradient ",
             seed.str(), " does not match the tensor ", root.str());

  NoGradGuard no_grad;
  if (!root.grad_fn()) {   // a leaf
    Tensor acc = root.grad();
    accumulate(acc, seed.clone());
    const_cast<Tensor&>(root).set_grad(acc);
    if (g_leaf_grad_hook) g_leaf_grad_hook(root.impl().get());
    return;
  }

  // Reverse post-order of a depth-first walk = a topological order (producers after consumers).
  // `order` holds shared_ptrs: releasing a node drops its edges, which may own other nodes.
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root.grad_fn(), 0}};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->edges().size()) {
      const std::shared_ptr<Node>& child = node->edges()[next++].producer;
      if (child && seen.insert(child.get()).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  // With a LeafGradHook: how many edges of the nodes still to visit lead to each leaf.
  std::unordered_map<TensorImpl*, size_t> leaf_edges_left;
  const bool report_leaves = static_cast<bool>(g_leaf_grad_hook);
  if (report_leaves)
    for (const auto& node : order)
      for (const Edge& e : node->edges())
        if (e.leaf && e.leaf->requires_grad) leaf_edges_left[e.leaf.get()] += 1;
  auto visited = [&](const Node& node) {
    if (!report_leaves) return;
    for (const Edge& e : node.edges())
      if (e.leaf && e.leaf->requires_grad && --leaf_edges_left[e.leaf.get()] == 0) g_leaf_grad_hook(e.leaf.get());
  };

  std::unordered_map<Node*, Tensor> pending;
  pending[root.grad_fn().get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = it->get();
    auto found = pending.find(node);
    if (found == pending.end()) {   // no gradient flows here
      visited(*node);
      continue;
    }
    Tensor g = std::move(found->second);
    pending.erase(found);
    GradList grads = node->apply(g);
    g = Tensor();
    const std::vector<Edge>& edges = node->edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      if (!grads[i].defined()) continue;
      if (edges[i].producer) {
        accumulate(pending[edges[i].producer.get()], std::move(grads[i]));
      } else if (edges[i].leaf && edges[i].leaf->requires_grad) {
        Tensor& leaf_grad = edges[i].leaf->grad;
        Tensor gi = std::move(grads[i]);
        if (!leaf_grad.defined() && !uniquely_owned(gi)) gi = gi.clone();
        accumulate(leaf_grad, std::move(gi));
      }
    }
    visited(*node);
    if (!retain_graph) node->release();
  }
}

}  // namespace xmkd
