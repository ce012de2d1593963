"""Teacher→student distillation losses (tests/ops/test_distill.cpp).

tests/fixtures/distill_class.safetensors (logits (6,5), labels (6)) and distill_pixel.safetensors
(logits (2,5,3,4), labels (2,3,4) with 5 positions labelled 255) hold the inputs and, for every
kind in {kdv1, kdv2, dkd, ctkd, mlkd} with and without LSKD (tag "<kind>" / "<kind>_lskd"):
loss_<tag> (the total), grad_student_<tag> (d total / d student logits), parts ce_<tag> and
kd_<tag>; for ctkd also temperature_<tag> and grad_theta_<tag> (d total / d the temperature
logit, reversed by the GRL). Training progress: epoch 2, step 1 of 4, of 10 epochs (fraction 0.225).
"""
import math
import os

import torch
import torch.nn.functional as F

from ._common import save_safetensors

KINDS = ("kdv1", "kdv2", "dkd", "ctkd", "mlkd")
FRACTION = (2 + 1 / 4) / 10
EPOCH = FRACTION * 10
IGNORE = 255


def _lskd(z):
    return (z - z.mean(dim=1, keepdim=True)) / (z.std(dim=1, keepdim=True) + 1e-7)


def _kd(s, t, T):
    return F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="none").sum(1).mean() * T**2


def _dkd(s, t, y, alpha=1.0, beta=8.0, T=4.0):
    gt = torch.zeros_like(s).scatter_(1, y.unsqueeze(1), 1.0)
    other = 1.0 - gt
    ps, pt = F.softmax(s / T, dim=1), F.softmax(t / T, dim=1)
    bs = torch.cat([(ps * gt).sum(1, keepdim=True), (ps * other).sum(1, keepdim=True)], dim=1)
    bt = torch.cat([(pt * gt).sum(1, keepdim=True), (pt * other).sum(1, keepdim=True)], dim=1)
    tckd = F.kl_div(torch.log(bs), bt, reduction="sum") * T**2 / s.shape[0]
    pt2 = F.softmax(t / T - 1000.0 * gt, dim=1)
    log_ps2 = F.log_softmax(s / T - 1000.0 * gt, dim=1)
    nckd = F.kl_div(log_ps2, pt2, reduction="sum") * T**2 / s.shape[0]
    return alpha * tckd + beta * nckd


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


def _ctkd_temperature(theta, t_min=1.0, t_max=21.0, lam_min=0.0, lam_max=1.0):
    lam = lam_min + (lam_max - lam_min) * 0.5 * (1.0 - math.cos(math.pi * FRACTION))
    return _Reverse.apply(t_min + (t_max - t_min) * torch.sigmoid(theta), lam)


def _mlkd(s, t, class_scale, temperatures=(2, 3, 4, 5, 6)):
    total = 0.0
    for T in temperatures:
        ps, pt = F.softmax(s / T, dim=1), F.softmax(t / T, dim=1)
        total = total + _kd(s, t, T)
        total = total + F.mse_loss(ps @ ps.t(), pt @ pt.t())     # batch level, mean over B² entries
        # class level, mean over C² entries; per pixel the Gram is rescaled to N samples' size
        total = total + F.mse_loss(class_scale * (ps.t() @ ps), class_scale * (pt.t() @ pt))
    return total


def _case(student, teacher, labels, kind, lskd):
    s = student.detach().clone().requires_grad_(True)
    C = s.shape[1]
    ce = F.cross_entropy(s, labels, ignore_index=IGNORE)
    rows_s = s.permute(0, 2, 3, 1).reshape(-1, C) if s.dim() == 4 else s
    rows_t = teacher.permute(0, 2, 3, 1).reshape(-1, C) if s.dim() == 4 else teacher
    flat = labels.reshape(-1)
    keep = flat != IGNORE
    rs, rt, y = rows_s[keep], rows_t[keep].detach(), flat[keep]
    if lskd:
        rs, rt = _lskd(rs), _lskd(rt)
    out, inputs = {}, [s]
    if kind == "kdv1":
        kd = _kd(rs, rt, 4.0)
        total = kd
    elif kind == "kdv2":
        kd = 0.5 * _kd(rs, rt, 4.0)
        total = 0.5 * ce + kd
    elif kind == "dkd":
        kd = min(EPOCH / 20.0, 1.0) * _dkd(rs, rt, y)
        total = ce + kd
    elif kind == "ctkd":
        theta = torch.full((1,), math.log(0.15 / 0.85), requires_grad=True)   # T0 = 4 in [1, 21]
        T = _ctkd_temperature(theta)
        kd = F.kl_div(F.log_softmax(rs / T, dim=1), F.softmax(rt / T, dim=1), reduction="none").sum(1).mean() * T**2
        total = ce + kd
        inputs.append(theta)
        out["temperature"] = T.detach().reshape(())
    else:
        kd = _mlkd(rs, rt, s.shape[0] / rs.shape[0] if s.dim() == 4 else 1.0)
        total = ce + kd
    grads = torch.autograd.grad(total, inputs)
    out.update({"loss": total, "grad_student": grads[0], "ce": ce, "kd": kd})
    if kind == "ctkd":
        out["grad_theta"] = grads[1]
    return out


def _family(gen, shape, ignored):
    student = torch.randn(*shape, generator=gen) * 2.0
    teacher = torch.randn(*shape, generator=gen) * 3.0
    label_shape = (shape[0],) + tuple(shape[2:])
    labels = torch.randint(0, shape[1], label_shape, generator=gen)
    flat = labels.view(-1)
    flat[torch.randperm(flat.numel(), generator=gen)[:ignored]] = IGNORE
    out = {"student": student, "teacher": teacher, "labels": labels}
    for kind in KINDS:
        for lskd in (False, True):
            tag = kind + ("_lskd" if lskd else "")
            for key, value in _case(student, teacher, labels, kind, lskd).items():
                out[f"{key}_{tag}"] = value.detach().reshape(() if key in ("loss", "ce", "kd") else value.shape)
    return out


def write(out_dir):
    gen = torch.Generator().manual_seed(2024)
    return [
        save_safetensors(os.path.join(out_dir, "distill_class.safetensors"), _family(gen, (6, 5), 0)),
        save_safetensors(os.path.join(out_dir, "distill_pixel.safetensors"), _family(gen, (2, 5, 3, 4), 5)),
    ]
