"""Shared by the fixture families: a dependency-free safetensors writer and deterministic values.

deterministic_values(key, n) reproduces xmkd's tests/support deterministic fill exactly, so model
weights need not be stored in the fixtures: value_i = 2 * u_i - 1, u_i = top 24 bits of
splitmix64(key * 2^32 + i) / 2^24.
"""
import json
import math
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


def fnv1a32(text):
    """FNV-1a 32-bit hash of a UTF-8 string (xmkd::testing::fnv1a32): the key of a tensor's values."""
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def deterministic_state_value(name, shape):
    """The value xmkd's tests give state dict entry `name` (xmkd::testing::deterministic_init).

    With u = deterministic_values(fnv1a32(name), numel), computed in float64 and rounded once to
    float32: weights with ndim >= 2: u * sqrt(6 / fan_in); other "...weight" (batch norm):
    1 + 0.1u; "...bias": 0.1u; "running_mean": 0.1u; "running_var": 1 + 0.25(u + 1);
    "num_batches_tracked": 0 (int64).
    """
    shape = tuple(shape)
    n = int(np.prod(shape, dtype=np.int64))
    if name.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    u = deterministic_values(fnv1a32(name), n).numpy().astype(np.float64)
    if name.endswith("running_mean"):
        v = 0.1 * u
    elif name.endswith("running_var"):
        v = 1.0 + 0.25 * (u + 1.0)
    elif len(shape) >= 2:
        fan_in = int(np.prod(shape[1:], dtype=np.int64))
        v = u * math.sqrt(6.0 / fan_in)
    elif name.endswith("bias"):
        v = 0.1 * u
    elif name.endswith("weight"):
        v = 1.0 + 0.1 * u
    else:
        raise ValueError(f"deterministic_state_value: no rule for state dict entry '{name}' {shape}")
    return torch.from_numpy(v.astype(np.float32)).reshape(shape)


def deterministic_init_(module):
    """Overwrites every parameter and buffer of `module` with deterministic_state_value."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            t.copy_(deterministic_state_value(name, t.shape))
    return module
