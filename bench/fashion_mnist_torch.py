#!/usr/bin/python3
"""The PyTorch twin of `xmkd fashion-mnist`: the same data, model and recipe (ResNet-18 with one
input channel; normalisation by the training set's mean and std; random horizontal flips; Adam
lr 1e-3 with cosine decay per step; batch 128), reporting test accuracy per epoch and the time.
    /usr/bin/python3 bench/fashion_mnist_torch.py [--epochs 3] [--threads 2]
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(directory, split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads or os.cpu_count())
    torch.manual_seed(a.seed)
    xtr, ytr = load(a.dir, "train")
    xte, yte = load(a.dir, "test")
    mean, std = xtr.mean().item(), xtr.std().item()
    xtr, xte = (xtr - mean) / std, (xte - mean) / std

    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps_per_epoch = (len(xtr) + a.batch - 1) // a.batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs * steps_per_epoch)
    start, acc = time.time(), 0.0
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        total = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            x, y = xtr[idx], ytr[idx]
            flip = torch.rand(len(idx)) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(xte), 512):
                correct += (model(xte[i:i + 512]).argmax(1) == yte[i:i + 512]).sum().item()
        acc = correct / len(xte)
        print(f"epoch {epoch + 1}: train loss {total / steps_per_epoch:.4f}, test accuracy {100 * acc:.2f}%, "
              f"{time.time() - start:.0f} s elapsed", flush=True)
    print(json.dumps({"impl": "pytorch-" + torch.__version__, "task": "fashion-mnist", "epochs": a.epochs,
                      "test_accuracy": acc, "seconds": round(time.time() - start, 1)}))


if __name__ == "__main__":
    main()
