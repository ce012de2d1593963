"""Shared by the fixture families: a dependency-free safetensors writer and deterministic values.

deterministic_values(key, n) reproduces xmkd's tests/support deterministic fill exactly, so model
weights need not be stored in the fixtures: value_i = 2 * u_i - 1, u_i = top 24 bits of
splitmix64(key * 2^32 + i) / 2^24.
"""
import json
import os
import struct

import numpy as np
import torch

_DTYPES = {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64"}


def save_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> torch.Tensor (float32 / int32 / int64). Written atomically."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {t.dtype}")
        data = t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return path


def _splitmix64(x):
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def deterministic_values(key, n):
    """n float32 values in [-1, 1), identical to xmkd::testing::deterministic_fill(key)."""
    idx = np.arange(n, dtype=np.uint64) + (np.uint64(key) << np.uint64(32))
    u = (_splitmix64(idx) >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    return torch.from_numpy((2.0 * u - 1.0).astype(np.float32))
