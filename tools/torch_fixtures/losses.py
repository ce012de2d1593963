"""Losses, probabilities and similarities over dim 1 (tests/ops/test_loss_parity.cpp).

One file per op, tests/fixtures/losses_<name>.safetensors, holding seeded random inputs, PyTorch's
float32 output, the random upstream gradient `grad_<output>` applied to it, and the gradient of
every differentiable input (`grad_<input>_...`). Labels are int64; the test derives int32 copies.
"""
import os

import torch
import torch.nn.functional as F

from ._common import save_safetensors


def _leaf(gen, *shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).requires_grad_(True)


def _labels(gen, shape, classes, ignored, ignore_index):
    labels = torch.randint(0, classes, shape, generator=gen)
    flat = labels.view(-1)
    flat[torch.randperm(flat.numel(), generator=gen)[:ignored]] = ignore_index
    return labels


def _backward(output, inputs, gen):
    """Backpropagates a random N(0,1) upstream gradient; returns it and the input gradients."""
    upstream = torch.randn(output.shape, generator=gen)
    grads = torch.autograd.grad(output, inputs, upstream)
    return upstream, grads


def _cross_entropy_class(gen):
    logits = _leaf(gen, 6, 5, scale=2.0)
    labels = _labels(gen, (6,), 5, ignored=2, ignore_index=-100)
    weights = torch.rand(5, generator=gen) * 2.0 + 0.25
    out = {"logits": logits, "labels": labels, "class_weights": weights}
    for suffix, kwargs in (("plain", {}), ("weighted", {"weight": weights})):
        loss = F.cross_entropy(logits, labels, ignore_index=-100, **kwargs)
        upstream, (g,) = _backward(loss, [logits], gen)
        out.update({f"loss_{suffix}": loss, f"grad_loss_{suffix}": upstream, f"grad_logits_{suffix}": g})
    return out


def _cross_entropy_pixel(gen):
    logits = _leaf(gen, 2, 4, 3, 5, scale=2.0)
    labels = _labels(gen, (2, 3, 5), 4, ignored=6, ignore_index=255)
    loss = F.cross_entropy(logits, labels, ignore_index=255)
    upstream, (g,) = _backward(loss, [logits], gen)
    return {"logits": logits, "labels": labels, "loss": loss, "grad_loss": upstream, "grad_logits": g}


def _probabilities(fn):
    def make(gen):
        out = {}
        for tag, shape in (("2d", (4, 6)), ("4d", (2, 3, 2, 3))):
            x = _leaf(gen, *shape, scale=3.0)
            y = fn(x, dim=1)
            upstream, (g,) = _backward(y, [x], gen)
            out.update({f"x_{tag}": x, f"y_{tag}": y, f"grad_y_{tag}": upstream, f"grad_x_{tag}": g})
        return out
    return make


def _kl_div(gen):
    out = {"temperature": torch.tensor([4.0])}
    for tag, shape in (("2d", (4, 6)), ("4d", (2, 5, 3, 2))):
        s, t = _leaf(gen, *shape, scale=2.0), _leaf(gen, *shape, scale=2.0)
        positions = shape[0] * (shape[2] * shape[3] if len(shape) == 4 else 1)
        out.update({f"student_{tag}": s, f"teacher_{tag}": t})
        for suffix, T in (("t1", 1.0), ("t4", 4.0)):
            log_q, p = F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1)
            if len(shape) == 2:
                loss = F.kl_div(log_q, p, reduction="batchmean") * T * T
            else:
                loss = F.kl_div(log_q, p, reduction="sum") / positions * T * T
            upstream, (gs, gt) = _backward(loss, [s, t], gen)
            out.update({f"loss_{tag}_{suffix}": loss, f"grad_loss_{tag}_{suffix}": upstream,
                        f"grad_student_{tag}_{suffix}": gs, f"grad_teacher_{tag}_{suffix}": gt})
    return out


def _mse(gen):
    a, b = _leaf(gen, 3, 4, 5), _leaf(gen, 3, 4, 5)
    loss = F.mse_loss(a, b)
    upstream, (ga, gb) = _backward(loss, [a, b], gen)
    return {"a": a, "b": b, "loss": loss, "grad_loss": upstream, "grad_a": ga, "grad_b": gb}


def _cosine(gen):
    out = {}
    for tag, shape in (("2d", (5, 8)), ("4d", (2, 6, 3, 2))):
        a, b = _leaf(gen, *shape), _leaf(gen, *shape)
        y = F.cosine_similarity(a, b, dim=1)
        upstream, (ga, gb) = _backward(y, [a, b], gen)
        out.update({f"a_{tag}": a, f"b_{tag}": b, f"y_{tag}": y, f"grad_y_{tag}": upstream,
                    f"grad_a_{tag}": ga, f"grad_b_{tag}": gb})
    # eps = 0.5 with some norms below it: rows 0-1 of a and row 1-2 of b are scaled down.
    with torch.no_grad():
        a = torch.randn(4, 3, generator=gen)
        b = torch.randn(4, 3, generator=gen)
        a[:2] *= 0.1
        b[1:3] *= 0.1
    a.requires_grad_(True)
    b.requires_grad_(True)
    y = F.cosine_similarity(a, b, dim=1, eps=0.5)
    upstream, (ga, gb) = _backward(y, [a, b], gen)
    out.update({"a_clamped": a, "b_clamped": b, "eps_clamped": torch.tensor([0.5]), "y_clamped": y,
                "grad_y_clamped": upstream, "grad_a_clamped": ga, "grad_b_clamped": gb})
    return out


def _normalize(gen):
    out = {}
    for tag, shape in (("2d", (4, 7)), ("4d", (2, 5, 3, 2))):
        x = _leaf(gen, *shape, scale=2.0)
        y = F.normalize(x, dim=1)
        upstream, (g,) = _backward(y, [x], gen)
        out.update({f"x_{tag}": x, f"y_{tag}": y, f"grad_y_{tag}": upstream, f"grad_x_{tag}": g})
    # eps = 0.5 with rows 0 and 2 below it.
    with torch.no_grad():
        x = torch.randn(4, 3, generator=gen)
        x[0] *= 0.1
        x[2] *= 0.1
    x.requires_grad_(True)
    y = F.normalize(x, dim=1, eps=0.5)
    upstream, (g,) = _backward(y, [x], gen)
    out.update({"x_clamped": x, "eps_clamped": torch.tensor([0.5]), "y_clamped": y, "grad_y_clamped": upstream,
                "grad_x_clamped": g})
    return out


FIXTURES = {
    "ce_class": _cross_entropy_class,
    "ce_pixel": _cross_entropy_pixel,
    "softmax": _probabilities(F.softmax),
    "log_softmax": _probabilities(F.log_softmax),
    "kl_div": _kl_div,
    "mse": _mse,
    "cosine": _cosine,
    "normalize": _normalize,
}


def write(out_dir):
    paths = []
    for seed, (name, make) in enumerate(sorted(FIXTURES.items())):
        gen = torch.Generator().manual_seed(1000 + seed)
        tensors = make(gen)
        # Scalars are stored with shape () as PyTorch produces them.
        tensors = {k: v.detach().to(torch.int64 if not v.is_floating_point() else torch.float32)
                   for k, v in tensors.items()}
        path = os.path.join(out_dir, f"losses_{name}.safetensors")
        paths.append(save_safetensors(path, tensors, metadata={"torch": torch.__version__, "seed": 1000 + seed}))
    return paths
