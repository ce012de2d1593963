"""CroDiNo-KD's prototype contrast (tests/ops/test_contrastive.cpp): tests/fixtures/contrastive.safetensors.

InfoNCE over L2-normalised prototypes of two modalities with (sample, class) keys: the rows of
[a; b] that share a key with the other modality are anchors, the positive is the other modality's
row of the same key, every other row is a negative (self-similarity masked with -inf).
  proto_*:    prototypes a (5, 6), b (4, 6) and their keys; loss at tau = 0.1 and 0.5 and the
              gradients w.r.t. a and b under a random upstream scalar.
  features_*: the whole chain from feature maps (2, 6, 4, 4) and label maps (16x16 and 10x10, with
              ignored pixels, resized by nearest neighbour) through masked average pooling per
              class; loss and the gradients w.r.t. both feature maps.
"""
import os

import torch
import torch.nn.functional as F

from ._common import save_safetensors


def info_nce(a, a_keys, b, b_keys, tau):
    q = F.normalize(torch.cat([a, b]), dim=1)
    logits = q @ q.t() / tau
    logits = logits.masked_fill(torch.eye(len(q), dtype=torch.bool), float("-inf"))
    keys = [tuple(k) for k in a_keys.tolist()] + [tuple(k) for k in b_keys.tolist()]
    pa = len(a_keys)
    target = torch.full((len(keys),), -100, dtype=torch.int64)
    for i in range(pa):
        for j in range(pa, len(keys)):
            if keys[i] == keys[j]:
                target[i], target[j] = j, i
    return F.cross_entropy(logits, target, ignore_index=-100)


def prototypes(features, labels, classes, ignore_index=255):
    """Masked average pooling by class; rows in order of (sample, class); keys (P, 2)."""
    labels = F.interpolate(labels[:, None].float(), size=features.shape[2:], mode="nearest")[:, 0].long()
    rows, keys = [], []
    for n in range(features.shape[0]):
        for c in range(classes):
            mask = labels[n] == c
            if mask.any():
                rows.append(features[n][:, mask].mean(dim=1))
                keys.append((n, c))
    return torch.stack(rows), torch.tensor(keys, dtype=torch.int64), labels


def _protos(gen, out):
    a = torch.randn(5, 6, generator=gen).requires_grad_(True)
    b = torch.randn(4, 6, generator=gen).requires_grad_(True)
    a_keys = torch.tensor([[0, 0], [0, 2], [0, 3], [1, 1], [1, 2]])
    b_keys = torch.tensor([[0, 0], [0, 3], [1, 1], [1, 3]])
    out.update({"proto_a": a, "proto_b": b, "proto_a_keys": a_keys, "proto_b_keys": b_keys})
    for tag, tau in (("t01", 0.1), ("t05", 0.5)):
        loss = info_nce(a, a_keys, b, b_keys, tau)
        upstream = torch.randn((), generator=gen)
        ga, gb = torch.autograd.grad(loss, [a, b], upstream)
        out.update({f"proto_loss_{tag}": loss, f"proto_grad_loss_{tag}": upstream,
                    f"proto_grad_a_{tag}": ga, f"proto_grad_b_{tag}": gb})


def _features(gen, out):
    classes = 4
    fa = torch.randn(2, 6, 4, 4, generator=gen).requires_grad_(True)
    fb = torch.randn(2, 6, 4, 4, generator=gen).requires_grad_(True)
    la = torch.randint(0, classes, (2, 16, 16), generator=gen)
    la[1][la[1] == 3] = 1                       # class 3 absent from sample 1 of modality a
    la[0, :8] = 255                             # ignored pixels
    lb = torch.randint(0, classes, (2, 10, 10), generator=gen)
    lb[0][lb[0] == 2] = 255                     # class 2 absent from sample 0 of modality b
    pa, _, ra = prototypes(fa, la, classes)
    pb, _, rb = prototypes(fb, lb, classes)
    ka = prototypes(fa.detach(), la, classes)[1]
    kb = prototypes(fb.detach(), lb, classes)[1]
    loss = info_nce(pa, ka, pb, kb, 0.1)
    upstream = torch.randn((), generator=gen)
    ga, gb = torch.autograd.grad(loss, [fa, fb], upstream)
    out.update({"features_a": fa, "features_b": fb, "labels_a": la, "labels_b": lb,
                "labels_a_resized": ra, "labels_b_resized": rb, "features_proto_a": pa, "features_proto_b": pb,
                "features_loss": loss, "features_grad_loss": upstream, "features_grad_a": ga, "features_grad_b": gb})


def write(out_dir):
    gen = torch.Generator().manual_seed(3100)
    tensors = {}
    _protos(gen, tensors)
    _features(gen, tensors)
    tensors = {k: v.detach().to(torch.int64 if not v.is_floating_point() else torch.float32)
               for k, v in tensors.items()}
    path = os.path.join(out_dir, "contrastive.safetensors")
    return [save_safetensors(path, tensors, metadata={"torch": torch.__version__, "seed": 3100})]
