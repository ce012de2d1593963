"""DisCoM-KD's loss from the branches' outputs (tests/models/test_discom_kd.cpp).

tests/fixtures/discom_loss.safetensors: M = 3 modalities, B = 2 rows each (different labels per
modality: nothing pairs rows across modalities), D = 256, C = 4, GRL lambda = 0.5.
Inputs are not stored: both sides compute them from _common's deterministic values:
    m<m>.z_inv, m<m>.z_inf, m<m>.z_irr   |deterministic_values(fnv1a32(name), B*D)| as (B, D)
                                         (non-negative, like the post-ReLU features)
    m<m>.logits                          2 * deterministic_values(fnv1a32(name), B*C) as (B, C)
    heads cl_aux (D->C), cl_inf, cl_irr, cl_adv (D->M)   deterministic_state_value(name, shape)
Stored: labels.m<m> (B) int64; the terms cl, adv, mod, aux, orth (scalars, unweighted) and
total (weights 1); grad.<input> of total for every feature block and logits, and
grad.<head>.{weight,bias}.
"""
import os

import torch
import torch.nn.functional as F

from ._common import deterministic_state_value, deterministic_values, fnv1a32, save_safetensors

M, B, D, C = 3, 2, 256, 4
LAMBDA = 0.5
LABELS = [[3, 0], [1, 1], [2, 0]]   # per modality: its own samples' class labels


class GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


def _features(name, shape, scale, absolute):
    v = deterministic_values(fnv1a32(name), shape[0] * shape[1]).reshape(shape) * scale
    return (v.abs() if absolute else v).requires_grad_(True)


def _case():
    inputs = {}
    for m in range(M):
        for block in ("z_inv", "z_inf", "z_irr"):
            inputs[f"m{m}.{block}"] = _features(f"m{m}.{block}", (B, D), 1.0, True)
        inputs[f"m{m}.logits"] = _features(f"m{m}.logits", (B, C), 2.0, False)
    heads = {}
    for head, out in (("cl_aux", C), ("cl_inf", M), ("cl_irr", M), ("cl_adv", M)):
        heads[f"{head}.weight"] = deterministic_state_value(f"{head}.weight", (out, D)).requires_grad_(True)
        heads[f"{head}.bias"] = deterministic_state_value(f"{head}.bias", (out,)).requires_grad_(True)

    def head(name, x):
        return F.linear(x, heads[f"{name}.weight"], heads[f"{name}.bias"])

    terms = {k: torch.zeros(()) for k in ("cl", "adv", "mod", "aux", "orth")}
    labels = {}
    for m in range(M):
        y = torch.tensor(LABELS[m], dtype=torch.int64)
        labels[f"labels.m{m}"] = y
        modality = torch.full((B,), m, dtype=torch.int64)
        z_inv, z_inf, z_irr = (inputs[f"m{m}.{b}"] for b in ("z_inv", "z_inf", "z_irr"))
        terms["cl"] = terms["cl"] + F.cross_entropy(inputs[f"m{m}.logits"], y)
        terms["adv"] = terms["adv"] + F.cross_entropy(head("cl_adv", GradientReversal.apply(z_inv, LAMBDA)), modality)
        terms["mod"] = terms["mod"] + F.cross_entropy(head("cl_inf", z_inf), modality) + \
            F.cross_entropy(head("cl_irr", z_irr), modality)
        terms["aux"] = terms["aux"] + F.cross_entropy(head("cl_aux", z_inv), y) + F.cross_entropy(head("cl_aux", z_inf), y)
        terms["orth"] = terms["orth"] + F.cosine_similarity(z_inv, z_inf, dim=1).mean() + \
            F.cosine_similarity(z_inf, z_irr, dim=1).mean()
    total = sum(terms.values())
    leaves = {**inputs, **heads}
    grads = torch.autograd.grad(total, list(leaves.values()))
    out = {**labels, **terms, "total": total}
    out.update({f"grad.{name}": g for name, g in zip(leaves, grads)})
    return out


def write(out_dir):
    tensors = {k: v.detach() for k, v in _case().items()}
    path = os.path.join(out_dir, "discom_loss.safetensors")
    return [save_safetensors(path, tensors, metadata={"torch": torch.__version__, "lambda": LAMBDA})]
