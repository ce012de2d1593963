#!/usr/bin/python3
"""The PyTorch twin of `xmkd bench train-step`: the same model, batch, loss and Adam step on
random data, timed the same way (median of --iters steps after --warmup), printed as one JSON line
with the same keys. Run with Debian's PyTorch: /usr/bin/python3 bench/torch_reference.py --help
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class ConvBnRelu(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Segmenter(nn.Module):
    """xmkd's models/segmenter.h in PyTorch: ResNet-18 encoder, 3 up+skip+conv stages, 1x1 head."""

    def __init__(self, in_channels, classes, widths=(256, 128, 64)):
        super().__init__()
        self.encoder = resnet18(in_channels, 0)
        skips = (256, 128, 64)
        stages, cin = [], 512
        for w, s in zip(widths, skips):
            stages.append(ConvBnRelu(cin + s, w))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Conv2d(cin, classes, 1)

    def forward(self, x):
        e = self.encoder
        c1 = e.maxpool(e.relu(e.bn1(e.conv1(x))))
        c2 = e.layer1(c1)
        c3 = e.layer2(c2)
        c4 = e.layer3(c3)
        y = e.layer4(c4)
        for stage, skip in zip(self.stages, (c4, c3, c2)):
            y = F.interpolate(y, size=skip.shape[2:], mode="bilinear", align_corners=False)
            y = stage(torch.cat([y, skip], 1))
        return F.interpolate(self.classifier(y), size=x.shape[2:], mode="bilinear", align_corners=False)


def resnet18(in_channels, classes):
    m = torchvision.models.resnet18(num_classes=max(classes, 1))
    m.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    if classes == 0:
        m.fc = nn.Identity()
    return m


def current_rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="resnet18", choices=["resnet18", "segmenter"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import os
    threads = a.threads or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(a.seed)
    rss_before = current_rss()
    dev = torch.device(a.device)
    model = (resnet18(a.channels, a.classes) if a.model == "resnet18" else Segmenter(a.channels, a.classes)).to(dev)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(a.batch, a.channels, a.size, a.size, device=dev)
    shape = (a.batch,) if a.model == "resnet18" else (a.batch, a.size, a.size)
    labels = torch.randint(0, a.classes, shape, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return loss.item()

    for _ in range(a.warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, loss = [], 0.0
    for _ in range(a.iters):
        t0 = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    median = times[len(times) // 2]
    out = {
        "impl": "pytorch-" + torch.__version__,
        "model": a.model, "device": a.device, "batch": a.batch, "size": a.size,
        "channels": a.channels, "classes": a.classes,
        "threads": threads if a.device == "cpu" else 0, "iters": a.iters,
        "step_ms_median": median, "step_ms_min": times[0],
        "images_per_s": 1000.0 * a.batch / median,
        "peak_tensor_bytes": torch.cuda.max_memory_allocated() if dev.type == "cuda" else None,
        "peak_rss_delta_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before,
        "final_loss": loss,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
