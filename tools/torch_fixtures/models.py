"""Model parity fixtures: ResNet-18 (1 and 3 input channels) and the encoder/decoder segmenter.

Weights are not stored: PyTorch and xmkd's tests both give every state dict entry the value
_common.deterministic_state_value(name, shape). A fixture holds the inputs ("input", "labels")
and, for every compared quantity Q, the same computation done twice:
    ref.Q     the model in float64 (model.double(), same weights and inputs), rounded to float32
    torch.Q   PyTorch in float32
    shape.Q   Q's shape (int64; empty for a scalar)
so that a test can measure PyTorch's own float32 error against float64 and hold xmkd to a
multiple of it (docs/parity.md). A Q with more than 16384 elements is summarised as
    Q.sample  4096 entries at the evenly spaced flat indices floor(k * n / 4096), k = 0..4095
    Q.norm    the L2 norm over all n entries (accumulated in float64)
    Q.proj    sum_i Q_i r_i over all n entries, r = deterministic_values(fnv1a32(Q) ^ 0x5bd1e995, n)
Entries that are NaN in ref.Q are ill-conditioned (see adam_conditioning) and not compared;
uncertainty.Q, where present, is the float32 error predicted for the compared entries.
The input batch comes from the first seed whose float64 forward keeps every ReLU input and
max-pool window at least KINK_MARGIN float32 errors from its kink (kink_free_inputs).

model_resnet18_c{1,3}, model_segmenter: one training step on the stored batch in train mode:
    logits, loss (cross-entropy, mean over non-ignored labels), grad.<parameter> for every
    parameter, state.<buffer> (batch norm running stats and num_batches_tracked after the forward).
    init.<name>: a few initial state dict entries, to check the deterministic rule bit for bit.
model_resnet18_c{1,3}_adam: 3 torch.optim.Adam steps (lr 1e-3, default betas and eps) on the
same batch, forward and backward recomputed before each step, from the same initial weights:
    adam.logits (3, N, classes) and adam.loss (3): the logits and loss before each step;
    adam.delta.<parameter>: parameter after the 3 steps minus before (taken in float64), with
    ill-conditioned entries NaN in ref and torch alike, uncertainty.adam.delta.<parameter>, and
    no .proj (its sum would include the ill-conditioned entries).

Run `/usr/bin/python3 tools/torch_fixtures/models.py --self-check` to hold a second float32
implementation (PyTorch with oneDNN disabled: im2col + GEMM convolutions) to the tests' rule.
"""
import copy
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_fixtures._common import (deterministic_init_, deterministic_values, fnv1a32,  # noqa: E402
                                    save_safetensors)

WHOLE_LIMIT = 16384
SAMPLES = 4096
PROJECTION_SALT = 0x5BD1E995
ADAM_STEPS = 3
ADAM_LR = 1e-3
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
# An Adam delta entry whose predicted float32 error exceeds this fraction of lr is ill-conditioned.
CONDITIONING_LIMIT = 1e-2


class ConvBnRelu(nn.Module):
    def __init__(self, in_channels, out_channels, kernel):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SegDecoder(nn.Module):
    """xmkd's SegDecoder (models/segmenter.h): per stage, upsample to the skip, concat [y, skip],
    3x3 conv-BN-ReLU; then a 1x1 conv with bias and an upsample to the output size."""

    SKIP_CHANNELS = (256, 128, 64)   # C4, C3, C2

    def __init__(self, bottleneck_channels, num_classes, stage_channels=(256, 128, 64)):
        super().__init__()
        stages, width = [], bottleneck_channels
        for skip, out in zip(self.SKIP_CHANNELS, stage_channels):
            stages.append(ConvBnRelu(width + skip, out, 3))
            width = out
        self.stages = nn.Sequential(*stages)   # a container, for the names stages.0..2
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, bottleneck, skips, out_size):
        y = bottleneck
        for stage, skip in zip(self.stages, skips):
            y = F.interpolate(y, size=skip.shape[2:], mode="bilinear", align_corners=False)
            y = stage(torch.cat([y, skip], dim=1))
        return F.interpolate(self.classifier(y), size=out_size, mode="bilinear", align_corners=False)


class Segmenter(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.encoder = resnet18(in_channels, num_classes=1000)
        self.encoder.fc = nn.Identity()   # the encoder alone, as xmkd's ResNet18(in_channels, 0)
        self.decoder = SegDecoder(512, num_classes)

    def forward(self, x):
        e = self.encoder
        stem = e.maxpool(e.relu(e.bn1(e.conv1(x))))
        c2 = e.layer1(stem)
        c3 = e.layer2(c2)
        c4 = e.layer3(c3)
        c5 = e.layer4(c4)
        return self.decoder(c5, [c4, c3, c2], x.shape[2:])


def resnet18(in_channels, num_classes):
    model = torchvision.models.resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    return model


KINK_MARGIN = 10.0   # in units of PyTorch float32's RMS forward error at that tensor
MAX_SEED_TRIES = 2000


class KinkRecorder:
    """Within `with KinkRecorder() as rec:`, every F.relu and F.max_pool2d call is recorded in
    rec.calls as (kind, input, (kernel, stride, padding))."""

    def __enter__(self):
        self.calls = []
        self.relu, self.max_pool2d = F.relu, F.max_pool2d
        F.relu, F.max_pool2d = self._relu, self._max_pool2d
        return self

    def __exit__(self, *exc):
        F.relu, F.max_pool2d = self.relu, self.max_pool2d

    def _relu(self, x, inplace=False):
        self.calls.append(("relu", x.detach().clone(), None))
        return self.relu(x, inplace=inplace)

    def _max_pool2d(self, x, kernel, stride, padding=0, *args, **kwargs):
        self.calls.append(("max_pool", x.detach().clone(), (kernel, stride, padding)))
        return self.max_pool2d(x, kernel, stride, padding, *args, **kwargs)


def kink_distances(kind, x, pool):
    """How far each point of a kink is from switching: |x| for a ReLU input; for a max-pool
    window with a positive maximum, the gap between its two largest values (a window of
    post-ReLU zeros routes its gradient into a ReLU that blocks it whichever zero wins)."""
    if kind == "relu":
        return x.abs().flatten()
    kernel, stride, padding = pool
    cols = F.unfold(F.pad(x, (padding,) * 4, value=float("-inf")), kernel, stride=stride)
    n, ck, positions = cols.shape
    top2 = cols.view(n, ck // (kernel * kernel), kernel * kernel, positions).topk(2, dim=2).values
    return (top2[:, :, 0] - top2[:, :, 1])[top2[:, :, 0] > 0].flatten()


def kink_margin(model, x):
    """min over every ReLU input and max-pool window of the forward (train mode, float64) of its
    distance to the kink, in units of PyTorch float32's RMS error on that tensor. Gradients are
    discontinuous there, so a point closer than a few float32 errors makes any float32 gradient
    a coin toss; the fixtures use inputs for which this is at least KINK_MARGIN."""
    runs = []
    for m, inp in ((copy.deepcopy(model).double(), x.double()), (copy.deepcopy(model), x)):
        m.train()
        with torch.no_grad(), KinkRecorder() as recorder:
            m(inp)
        runs.append(recorder.calls)
    margin = math.inf
    for (kind, v64, pool), (_, v32, _) in zip(*runs):
        rms_error = float((v32.double() - v64).pow(2).mean().sqrt())
        distances = kink_distances(kind, v64, pool)
        if distances.numel() and rms_error > 0:
            margin = min(margin, float(distances.min()) / rms_error)
    return margin


def kink_free_inputs(model, make_inputs, first_seed):
    """The inputs of the first seed from first_seed on whose kink margin is >= KINK_MARGIN."""
    deterministic_init_(model)
    for seed in range(first_seed, first_seed + MAX_SEED_TRIES):
        x, labels = make_inputs(torch.Generator().manual_seed(seed))
        margin = kink_margin(model, x)
        if margin >= KINK_MARGIN:
            return x, labels, seed, margin
    raise RuntimeError(f"no seed in [{first_seed}, {first_seed + MAX_SEED_TRIES}) keeps the kinks "
                       f"{KINK_MARGIN} float32 errors away")


def training_run(model, x, labels, ignore_index, adam_steps):
    """Forward, loss, backward (then Adam steps) in train mode.

    Returns ({Q: tensor} for the one-step quantities and the adam.* quantities, [per step
    {parameter: gradient}])."""
    model.train()
    params = dict(model.named_parameters())
    initial = {name: p.detach().clone() for name, p in params.items()}
    optimizer = (torch.optim.Adam(model.parameters(), lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS)
                 if adam_steps else None)
    out, losses, logits_per_step, grads_per_step = {}, [], [], []
    for step in range(max(1, adam_steps)):
        model.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, labels, ignore_index=ignore_index)
        loss.backward()
        losses.append(loss.detach().clone())
        logits_per_step.append(logits.detach().clone())
        grads_per_step.append({name: p.grad.detach().clone() for name, p in params.items()})
        if step == 0:
            out["logits"] = logits.detach().clone()
            out["loss"] = loss.detach().clone()
            for name, g in grads_per_step[0].items():
                out["grad." + name] = g
            for name, b in model.named_buffers():
                out["state." + name] = b.detach().clone()
        if optimizer:
            optimizer.step()
    if adam_steps:
        out["adam.logits"] = torch.stack(logits_per_step)
        out["adam.loss"] = torch.stack(losses)
        for name, p in params.items():
            out["adam.delta." + name] = p.detach().double() - initial[name].double()
    return out, grads_per_step


def adam_displacement(grads):
    """p_after - p_before of Adam (torch.optim.Adam's formula) for per-step gradients `grads`."""
    (b1, b2), m, v, d = ADAM_BETAS, 0.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        d = d - (ADAM_LR / (1 - b1 ** t)) * m / (torch.sqrt(v) / math.sqrt(1 - b2 ** t) + ADAM_EPS)
    return d


def adam_conditioning(name, ref_grads, f32_grads, ref_delta):
    """(Boolean mask of the entries of parameter `name` whose Adam delta is ill-conditioned,
    the predicted float32 error of every entry).

    Adam divides each gradient entry by its own running magnitude, so an entry whose gradient
    is small gets a delta that small gradient errors move by up to 2 lr. The first step's
    gradient is well-conditioned (kink-free inputs; PyTorch float32 is within a few 1e-6 of
    float64), but one step of lr 1e-3 fits the batch and the loss collapses: the later
    gradients are ~1e-3 of the first, and a float32 run gets them only to ~1e-2 (ReLU points
    near their kink decide whole channels). So an entry's predicted error is
    |d delta/d g_1| sigma_1 + sum_{t>1} |d delta/d g_t| rms(g_t): PyTorch float32's RMS error at
    the first step, and the later gradients uncertain by their whole RMS (per parameter; partial
    derivatives of Adam's formula at the float64 gradients). Entries where that exceeds
    CONDITIONING_LIMIT * lr (or is not finite: a gradient exactly 0) are ill-conditioned.
    """
    grads = [g[name].detach().double().flatten().clone().requires_grad_(True) for g in ref_grads]
    delta = adam_displacement(grads)
    if not torch.allclose(delta.detach(), ref_delta.flatten(), rtol=1e-9, atol=1e-15):
        raise RuntimeError(f"adam_displacement does not reproduce torch.optim.Adam for {name}")
    partials = torch.autograd.grad(delta.sum(), grads)
    n = grads[0].numel()
    uncertainty = [float((f32_grads[0][name].double().flatten() - grads[0].detach()).norm()) / math.sqrt(n)]
    uncertainty += [float(g.detach().norm()) / math.sqrt(n) for g in grads[1:]]
    predicted = sum(partial.abs() * u for partial, u in zip(partials, uncertainty))
    return ~torch.isfinite(predicted) | (predicted > CONDITIONING_LIMIT * ADAM_LR), predicted


def add_quantity(out, key, ref, f32, ill_conditioned=None, predicted=None, projection=True):
    """Stores quantity `key` (see the module docstring); `ill_conditioned` entries become NaN, and
    `predicted` (per-entry predicted float32 errors) is stored as uncertainty.<key>, their norm
    over the stored, compared entries relative to the reference's."""
    out["shape." + key] = torch.tensor(list(ref.shape), dtype=torch.int64)
    if not ref.is_floating_point():
        out["ref." + key], out["torch." + key] = ref, f32
        return
    ref, f32 = ref.detach().double().flatten(), f32.detach().double().flatten()
    n = ref.numel()
    norms = {"ref.": ref.norm(), "torch.": f32.norm()}
    projections = {}
    if n > WHOLE_LIMIT and projection:
        r = deterministic_values(fnv1a32(key) ^ PROJECTION_SALT, n).double()
        projections = {"ref.": (ref * r).sum(), "torch.": (f32 * r).sum()}
    if ill_conditioned is not None:
        ref, f32 = ref.clone(), f32.clone()
        ref[ill_conditioned.flatten()] = math.nan
        f32[ill_conditioned.flatten()] = math.nan
    stored = torch.arange(n) if n <= WHOLE_LIMIT else torch.from_numpy((np.arange(SAMPLES, dtype=np.int64) * n) // SAMPLES)
    if predicted is not None:
        compared = stored[torch.isfinite(ref[stored])]
        out["uncertainty." + key] = (predicted.flatten()[compared].norm() / ref[compared].norm()).float()
    if n <= WHOLE_LIMIT:
        out["ref." + key] = ref.float().reshape(out["shape." + key].tolist())
        out["torch." + key] = f32.float().reshape(out["shape." + key].tolist())
        return
    for prefix, t in (("ref.", ref), ("torch.", f32)):
        out[prefix + key + ".sample"] = t[stored].float()
        out[prefix + key + ".norm"] = norms[prefix].float()
        if projections:
            out[prefix + key + ".proj"] = projections[prefix].float()


def fixtures(model, x, labels, ignore_index, adam_steps, init_names):
    """({one-step fixture}, {adam fixture} or None) for `model`, deterministically initialised."""
    deterministic_init_(model)
    state = model.state_dict()
    step = {"input": x, "labels": labels}
    for name in init_names:
        step["init." + name] = state[name].clone()
    ref, ref_grads = training_run(copy.deepcopy(model).double(), x.double(), labels, ignore_index, adam_steps)
    f32, f32_grads = training_run(copy.deepcopy(model), x, labels, ignore_index, adam_steps)
    adam = {} if adam_steps else None
    for key in ref:
        if key.startswith("adam.delta."):
            name = key[len("adam.delta."):]
            mask, predicted = adam_conditioning(name, ref_grads, f32_grads, ref[key])
            add_quantity(adam, key, ref[key], f32[key], ill_conditioned=mask, predicted=predicted, projection=False)
        elif key.startswith("adam."):
            add_quantity(adam, key, ref[key], f32[key])
        else:
            add_quantity(step, key, ref[key], f32[key])
    return step, adam


def metadata(description, ignore_index, **extra):
    meta = {"description": description, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "ignore_index": ignore_index}
    meta.update(extra)
    return meta


def resnet_case(channels):
    """ResNet-18 for `channels`, and a batch (4, channels, 64, 64) ~ N(0, 1) with labels in [0, 10)."""
    def make_inputs(g):
        return torch.randn(4, channels, 64, 64, generator=g), torch.randint(0, 10, (4,), generator=g)
    model = resnet18(channels, 10)
    return (model, *kink_free_inputs(model, make_inputs, 100 * channels))


def segmenter_case():
    """The segmenter (3 channels, 5 classes), a batch (2, 3, 64, 64) ~ N(0, 1) and per-pixel
    labels in [0, 5) with about 10% set to the ignore index 255."""
    def make_inputs(g):
        x = torch.randn(2, 3, 64, 64, generator=g)
        labels = torch.randint(0, 5, (2, 64, 64), generator=g)
        labels[torch.rand(2, 64, 64, generator=g) < 0.1] = 255
        return x, labels
    model = Segmenter(3, 5)
    return (model, *kink_free_inputs(model, make_inputs, 1000))


def write(out_dir):
    paths = []
    for channels in (1, 3):
        model, x, labels, seed, margin = resnet_case(channels)
        step, adam = fixtures(model, x, labels, -100, ADAM_STEPS,
                              ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                               "fc.bias"])
        what = f"torchvision resnet18(num_classes=10), conv1 for {channels} channel(s), batch 4x64x64, train mode"
        base = os.path.join(out_dir, f"model_resnet18_c{channels}")
        kinks = {"input_seed": seed, "kink_margin": f"{margin:.1f}"}
        paths.append(save_safetensors(base + ".safetensors", step, metadata(what + ", one step", -100, **kinks)))
        paths.append(save_safetensors(base + "_adam.safetensors", adam, metadata(
            what + f", {ADAM_STEPS} Adam steps; input and labels in model_resnet18_c{channels}", -100,
            lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS, conditioning_limit=CONDITIONING_LIMIT, **kinks)))

    model, x, labels, seed, margin = segmenter_case()
    step, _ = fixtures(model, x, labels, 255, 0,
                       ["encoder.bn1.running_var", "decoder.classifier.weight", "decoder.classifier.bias"])
    paths.append(save_safetensors(os.path.join(out_dir, "model_segmenter.safetensors"), step, metadata(
        "segmenter: torchvision resnet18 encoder, 3-stage decoder, 5 classes, batch 2x64x64, train mode, one step",
        255, input_seed=seed, kink_margin=f"{margin:.1f}")))
    return paths


FACTOR, FLOOR = 10.0, 1e-5


def relative_error(actual, ref):
    """||actual - ref|| / ||ref|| over the entries where ref is not NaN (float64)."""
    keep = np.isfinite(ref)
    den = np.linalg.norm(ref[keep])
    return np.linalg.norm(actual[keep] - ref[keep]) / den if den > 0 else np.linalg.norm(actual[keep])


def rule_checks(fix, key, actual):
    """The tests' rule (tests/models/parity_fixture.cpp), for `actual`, a full float64 array.

    Yields (what, error, tolerance). Mirrors the C++ so that --self-check measures its margin."""
    get = lambda k: fix[k].double().numpy().ravel()   # noqa: E731
    x = np.asarray(actual, dtype=np.float64).ravel()
    predicted = float(fix["uncertainty." + key]) if "uncertainty." + key in fix else 0.0
    if "ref." + key in fix:
        ref, f32 = get("ref." + key), get("torch." + key)
        yield key, relative_error(x, ref), max(FACTOR * relative_error(f32, ref), predicted, FLOOR)
        return
    n = x.size
    idx = (np.arange(SAMPLES, dtype=np.int64) * n) // SAMPLES
    ref_s, f32_s = get("ref." + key + ".sample"), get("torch." + key + ".sample")
    torch_sample = relative_error(f32_s, ref_s)
    yield key + ".sample", relative_error(x[idx], ref_s), max(FACTOR * torch_sample, predicted, FLOOR)
    ref_norm, f32_norm = float(get("ref." + key + ".norm")[0]), float(get("torch." + key + ".norm")[0])
    torch_norm = abs(f32_norm - ref_norm) / ref_norm
    yield key + ".norm", abs(np.linalg.norm(x) - ref_norm) / ref_norm, max(FACTOR * max(torch_norm, torch_sample),
                                                                           predicted, FLOOR)
    if "ref." + key + ".proj" in fix:
        r = deterministic_values(fnv1a32(key) ^ PROJECTION_SALT, n).double().numpy()
        scale = ref_norm * np.linalg.norm(r) / math.sqrt(n)
        ref_p, f32_p = float(get("ref." + key + ".proj")[0]), float(get("torch." + key + ".proj")[0])
        torch_proj = abs(f32_p - ref_p) / scale
        yield key + ".proj", abs(float(x @ r) - ref_p) / scale, max(FACTOR * max(torch_proj, torch_sample), FLOOR)


def cross_entropy_condition(logits, labels, ignore_index):
    """kappa = ||dL/dz|| ||z|| / |L| for the mean cross-entropy L of logits z (float64)."""
    z = logits.double().clone().requires_grad_(True)
    loss = F.cross_entropy(z, labels, ignore_index=ignore_index)
    (grad,) = torch.autograd.grad(loss, z)
    return float(grad.norm() * z.detach().norm() / loss.detach().abs())


def loss_checks(fix, actual_losses, labels, ignore_index):
    """adam.loss: per step, the loss's error against max(PyTorch's own, kappa * PyTorch's logits error)."""
    ref, f32 = fix["ref.adam.loss"].double(), fix["torch.adam.loss"].double()
    for t in range(ref.numel()):
        ref_z, f32_z = fix["ref.adam.logits"][t].double(), fix["torch.adam.logits"][t].double()
        logits_error = float((f32_z - ref_z).norm() / ref_z.norm())
        kappa = cross_entropy_condition(ref_z, labels, ignore_index)
        own = abs(float(f32[t] - ref[t])) / abs(float(ref[t]))
        error = abs(float(actual_losses[t]) - float(ref[t])) / abs(float(ref[t]))
        yield f"adam.loss[{t}]", error, max(FACTOR * max(own, kappa * logits_error), FLOOR)


def self_check():
    """Holds a second float32 implementation (PyTorch with oneDNN off) to the tests' rule."""
    torch.set_num_threads(1)
    cases = [("resnet18_c1", *resnet_case(1)[:3], -100, ADAM_STEPS),
             ("resnet18_c3", *resnet_case(3)[:3], -100, ADAM_STEPS), ("segmenter", *segmenter_case()[:3], 255, 0)]
    worst = []
    for name, model, x, labels, ignore_index, adam_steps in cases:
        step, adam = fixtures(model, x, labels, ignore_index, adam_steps, [])
        deterministic_init_(model)
        with torch.backends.mkldnn.flags(enabled=False):
            alt = training_run(model, x, labels, ignore_index, adam_steps)[0]
        for fix in filter(None, (step, adam)):
            for key in sorted(k[len("shape."):] for k in fix if k.startswith("shape.")):
                if key == "adam.loss":
                    checks = loss_checks(fix, alt[key], labels, ignore_index)
                elif not alt[key].is_floating_point():
                    checks = [(key, float((alt[key] != fix["ref." + key]).sum()), 0.0)]
                else:
                    checks = rule_checks(fix, key, alt[key].double().numpy())
                for what, error, tolerance in checks:
                    worst.append((error / tolerance if tolerance else error, f"{name}: {what}", error, tolerance))
    worst.sort()
    for name, *_ in cases:
        mine = [w for w in worst if w[1].startswith(name + ":")]
        for ratio, what, error, tolerance in mine[-5:]:
            print(f"{ratio:8.3f}  {what:60s} error {error:.2e}  tolerance {tolerance:.2e}")
    failed = [w for w in worst if w[0] > 1]
    print(f"{len(worst)} checks, {len(failed)} over tolerance; worst error/tolerance {worst[-1][0]:.3f}")
    return not failed


if __name__ == "__main__":
    if "--self-check" in sys.argv:
        sys.exit(0 if self_check() else 1)
    else:
        print(__doc__)
