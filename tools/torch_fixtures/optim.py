"""Optimizer, learning-rate schedule and file-format fixtures.

optim_<config>.safetensors (tests/unit/test_optim.cpp): torch.optim (foreach=False) run for 5
steps on two parameters, "w" (6, 7) and "b" (5,); w has 42 elements so that torch's vectorised
body and its scalar tail both take part. Keys:
    init.<p>                       the parameters before the first step
    grad.<k>.<p>                   the gradient given at step k (absent: the parameter has none
                                   at that step and is skipped, as torch skips it)
    param.<k>.<p>                  the parameter after step k
    state.<k>.<p>.<kind>           torch's per-parameter state after step k: momentum_buffer,
                                   exp_avg, exp_avg_sq, step (int64)
    __metadata__                   the optimizer's name and hyperparameters (Python reprs)

optim_schedules.safetensors (tests/unit/test_schedule.cpp): for each schedule <s>, lr at
t = 0..30 as float64 bit patterns stored in I64 tensors (the shared writer carries no F64):
    <s>.torch_bits    get_last_lr() after t scheduler steps (torch's recursive forms)
    <s>.closed_bits   the closed form the schedule is defined by (torch's _get_closed_form_lr
                      where it has one; LinearLR's and the follower's for the warm-up)
    __metadata__      the schedules' parameters

safetensors_sample.safetensors (tests/unit/test_safetensors.cpp): a file written by the shared
Python writer, with known values, for the C++ reader.
npy_sample_{f32,i64,u8}.npy (tests/unit/test_npy.cpp): arrays written by numpy's own np.save.
"""
import math
import os
import warnings

import numpy as np
import torch

from torch_fixtures._common import save_safetensors

STEPS = 5
SHAPES = {"w": (6, 7), "b": (5,)}

# name -> (constructor, keyword arguments, {step: parameters with no gradient at that step})
OPTIMIZERS = {
    "sgd_plain": (torch.optim.SGD, dict(lr=0.1), {}),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9), {0: ["b"]}),
    "sgd_nesterov_wd": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), {}),
    "sgd_dampening": (torch.optim.SGD, dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=1e-3), {}),
    "adam": (torch.optim.Adam, dict(lr=0.01), {}),
    "adam_wd": (torch.optim.Adam, dict(lr=0.01, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.1), {2: ["b"]}),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1), {}),
}


def _gradient(gen, shape, step):
    # Magnitudes spread over four decades, so eps and the moment estimates all matter.
    g = torch.randn(shape, generator=gen)
    scale = torch.pow(10.0, torch.empty(shape).uniform_(-3.0, 1.0, generator=gen))
    return (g * scale * (1.0 + step)).float()


def _optimizer_fixture(out_dir, name, ctor, kwargs, no_grad):
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    params = {p: torch.randn(shape, generator=gen).requires_grad_(True) for p, shape in SHAPES.items()}
    opt = ctor([params["w"], params["b"]], foreach=False, **kwargs)
    tensors = {f"init.{p}": t.detach().clone() for p, t in params.items()}
    for k in range(STEPS):
        for p, t in params.items():
            if p in no_grad.get(k, []):
                t.grad = None
                continue
            t.grad = _gradient(gen, SHAPES[p], k)
            tensors[f"grad.{k}.{p}"] = t.grad.clone()
        opt.step()
        for p, t in params.items():
            tensors[f"param.{k}.{p}"] = t.detach().clone()
            for kind, value in opt.state[t].items():
                if value is None:   # plain SGD keeps momentum_buffer = None
                    continue
                value = value.to(torch.int64) if kind == "step" else value
                tensors[f"state.{k}.{p}.{kind}"] = value.detach().clone()
    metadata = {"optimizer": ctor.__name__, "steps": STEPS}
    for key, value in kwargs.items():
        if key == "betas":
            metadata["beta1"], metadata["beta2"] = repr(value[0]), repr(value[1])
        else:
            metadata[key] = repr(value)
    path = os.path.join(out_dir, f"optim_{name}.safetensors")
    return save_safetensors(path, tensors, metadata)


def _bits(values):
    return torch.tensor(values, dtype=torch.float64).view(torch.int64)


def _schedule_fixture(out_dir):
    def optimizer(lr):
        return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)

    def run(scheduler, opt, closed_form):
        torch_lr, closed = [], []
        for t in range(31):
            if t > 0:
                opt.step()   # no gradients: a no-op that keeps the scheduler's order check quiet
                scheduler.step()
            torch_lr.append(scheduler.get_last_lr()[0])
            closed.append(closed_form(scheduler, t))
        return torch_lr, closed

    def torch_closed(s, t):
        return s._get_closed_form_lr()[0]

    out, meta = {}, {}

    opt = optimizer(0.1)
    series = {"step": run(torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5), opt, torch_closed)}
    meta.update({"step.base_lr": "0.1", "step.step_size": "7", "step.gamma": "0.5"})

    opt = optimizer(0.1)
    series["cosine"] = run(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30, eta_min=1e-4), opt, torch_closed)
    meta.update({"cosine.base_lr": "0.1", "cosine.t_max": "30", "cosine.eta_min": "0.0001"})

    opt = optimizer(0.1)
    series["poly"] = run(torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=25, power=0.9), opt, torch_closed)
    meta.update({"poly.base_lr": "0.1", "poly.total": "25", "poly.power": "0.9"})

    # Warm-up: LinearLR for 5 steps, then cosine over 25, joined by SequentialLR.
    opt = optimizer(0.1)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=5)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=25, eta_min=0.0)
    seq = torch.optim.lr_scheduler.SequentialLR(opt, schedulers=[warm, cosine], milestones=[5])

    def warmup_closed(s, t):
        if t < 5:
            return 0.1 * (0.25 + (1.0 - 0.25) * min(5, t) / 5)
        return 0.0 + (0.1 - 0.0) * (1 + math.cos(math.pi * (t - 5) / 25)) / 2

    with warnings.catch_warnings():
        # SequentialLR calls the follower's step(0), which torch flags as deprecated usage.
        warnings.simplefilter("ignore", UserWarning)
        series["warmup_cosine"] = run(seq, opt, warmup_closed)
    meta.update({"warmup_cosine.base_lr": "0.1", "warmup_cosine.warmup": "5", "warmup_cosine.start_factor": "0.25",
                 "warmup_cosine.t_max": "25"})

    for name, (torch_lr, closed) in series.items():
        out[f"{name}.torch_bits"] = _bits(torch_lr)
        out[f"{name}.closed_bits"] = _bits(closed)
    return save_safetensors(os.path.join(out_dir, "optim_schedules.safetensors"), out, meta)


def _file_format_samples(out_dir):
    sample = {
        "f32": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4 - 0.5,
        "i32": torch.tensor([-2, 0, 7, 2147483647], dtype=torch.int32),
        "i64": torch.tensor(2**40 + 3, dtype=torch.int64),   # 0-d
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    paths = [save_safetensors(os.path.join(out_dir, "safetensors_sample.safetensors"), sample,
                              {"writer": "tools/torch_fixtures/_common.py"})]
    arrays = {
        "npy_sample_f32.npy": np.arange(12, dtype=np.float32).reshape(3, 4) / np.float32(8) - np.float32(0.5),
        "npy_sample_i64.npy": np.array([[-1, 0, 2**40], [5, -(2**62), 3]], dtype=np.int64),
        "npy_sample_u8.npy": np.array([0, 1, 128, 255], dtype=np.uint8),
    }
    for name, array in arrays.items():
        path = os.path.join(out_dir, name)
        np.save(path, array)
        paths.append(path)
    return paths


def write(out_dir):
    paths = [_optimizer_fixture(out_dir, name, *spec) for name, spec in OPTIMIZERS.items()]
    paths.append(_schedule_fixture(out_dir))
    paths += _file_format_samples(out_dir)
    return paths
