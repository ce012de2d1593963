#!/usr/bin/python3
"""Is the synthetic benchmark's twin factor learnable from depth? (docs/results.md, "What depth
needs to learn the twin").

The twin (box vs cylinder, pyramid vs cone) is the one factor of a synthetic class that only depth
carries, and no xmkd network learns it. This probe separates the information from the recipe: it
trains a PyTorch classifier on the twin alone, from a directory written by `xmkd datagen`, with the
depth presented in one of four ways:

  depth   the whole depth map, normalised by its mean and std over the set (what xmkd's students see)
  relief  the whole map as local relief (see `relief` below), holes marked, no other help
  relief-filled  the same with holes set to the local mean
  crop    24x24 around the main object (found from the label map), depth relative to the object's
          median, every other pixel 0
  mask    the same crop of the main object's exact silhouette, no depth at all

  bench/twin_probe.py classify DIR --input relief --arch resnet18 --count 6000 --epochs 6

xmkd itself trains on relief through its data pipeline (`data.depth_encoding = relief`,
data/depth_encoding.h); this probe's `relief` is the same encoding, written again in numpy only to
feed its PyTorch classifier.

Needs numpy, Pillow and PyTorch (Debian: python3-torch, python3-torchvision); xmkd does not.
"""
import argparse
import json
import os

import numpy as np
from PIL import Image

from factors import FACTORS  # bench/factors.py: a scene class's family, colour and twin

RELIEF_CLIP = 0.2  # metres: relief is clipped to +-RELIEF_CLIP
RELIEF_HOLE = -0.3  # metres: the value a hole gets, outside the clipped range


def load_depth(root, sample):
    return np.array(Image.open(os.path.join(root, sample["depth"]))).astype(np.float64) * 1e-3


def box_mean(a, k=5):
    """The k x k mean of a, zero outside the image."""
    kernel = np.ones(k) / k
    a = np.apply_along_axis(lambda r: np.convolve(r, kernel, "same"), 1, a)
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, "same"), 0, a)


def relief(depth, fill_holes=False):
    """Depth minus its 5x5 mean over valid pixels, clipped; holes (0) become RELIEF_HOLE, or 0 (the
    local mean) with fill_holes."""
    valid = (depth > 0).astype(np.float64)
    local = box_mean(depth * valid) / np.maximum(box_mean(valid), 1e-3)
    hole = 0.0 if fill_holes else RELIEF_HOLE
    return np.where(valid > 0, np.clip(depth - local, -RELIEF_CLIP, RELIEF_CLIP), hole)


def twin_inputs(root, view, count):
    """(inputs (N,1,H,W) float32, twin labels (N,)) of the first `count` samples."""
    samples = json.load(open(os.path.join(root, "manifest.json")))["samples"][:count]
    inputs, labels = [], []
    for i, sample in enumerate(samples):
        depth, cls = load_depth(root, sample), sample["label"]
        labels.append(FACTORS["twin"](cls))
        if view == "depth":
            inputs.append(depth)
            continue
        if view in ("relief", "relief-filled"):
            inputs.append(relief(depth, view == "relief-filled") * 10)
            continue
        pixel_class = np.array(Image.open(os.path.join(root, "labels", "%06d.png" % i)))
        main = pixel_class == 2 + cls
        ys, xs = np.nonzero(main)
        cy, cx = int(ys.mean()), int(xs.mean())
        if view == "mask":
            window = main.astype(np.float64)
        else:
            seen = main & (depth > 0)
            window = np.where(seen, depth - np.median(depth[seen]), 0.0)
        inputs.append(np.pad(window, 12)[cy:cy + 24, cx:cx + 24] * 10)
    x = np.stack(inputs)[:, None].astype(np.float32)
    if view == "depth":
        x = (x - x.mean()) / x.std()
    return x, np.array(labels)


def classify(args):
    import torch
    import torch.nn as nn

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x, y = twin_inputs(args.dir, args.input, args.count)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    n_train = int(0.8 * len(x))
    if args.arch == "small":
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Linear(64, 2))
    else:
        import torchvision

        net = torchvision.models.resnet18(num_classes=2)
        net.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    print(f"twin from {args.input}, {args.arch}, {n_train} training / {len(x) - n_train} test samples")
    for epoch in range(1, args.epochs + 1):
        net.train()
        order = torch.randperm(n_train)
        for b in range(0, n_train, 64):
            idx = order[b:b + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            train_acc = (net(x[:1000]).argmax(1) == y[:1000]).float().mean().item()
            test_acc = (net(x[n_train:]).argmax(1) == y[n_train:]).float().mean().item()
        print(f"epoch {epoch}: train accuracy {100 * train_acc:.1f}, test accuracy {100 * test_acc:.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classify", help="train a twin classifier in PyTorch")
    c.add_argument("dir", help="a classification directory written by xmkd datagen")
    c.add_argument("--input", choices=["depth", "relief", "relief-filled", "crop", "mask"], default="relief")
    c.add_argument("--arch", choices=["small", "resnet18"], default="small")
    c.add_argument("--count", type=int, default=6000, help="samples used (80%% train, 20%% test)")
    c.add_argument("--epochs", type=int, default=15)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    classify(args)


if __name__ == "__main__":
    main()
