"""Depth-encoding fixtures from numpy (tests/unit/test_depth_encoding.cpp).

depth_encoding.safetensors: one 21x30 depth map in metres, written from its own formula, not from
xmkd: a floor plane and a wall, a box and a cylinder standing on the floor, sensor noise, random
holes and a hole region touching the image border. Keys:
    depth                       float32 (1, 21, 30)
    relief_w5_fill              relief, window 5, clip 0.2, holes filled (0)
    relief_w3_mark              relief, window 3, clip 0.15, holes marked (-1.5 * clip)
    normals_w3                  normals, window 3, horizontal field of view 58 degrees, (3, 21, 30)
    normals_w1_fov70            normals, window 1 (no smoothing), field of view 70 degrees
The reference follows docs/data.md ("Depth encodings"), in float64, vectorised in numpy.
"""
import os

import numpy as np
import torch

from torch_fixtures._common import save_safetensors

H, W = 21, 30


def _scene():
    rng = np.random.default_rng(20261203)
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    depth = np.where(v > 9, 1.2 + 2.4 / (v - 8.5), 3.8 + 0.01 * u)   # floor rising to a wall
    box = (v >= 6) & (v <= 15) & (u >= 4) & (u <= 10)
    depth = np.where(box, 1.9 + 0.004 * (u - 4), depth)
    cylinder = (v >= 4) & (v <= 16) & (np.abs(u - 20.0) <= 4.5)
    depth = np.where(cylinder, 2.1 - np.sqrt(np.maximum(0.0, 4.5 ** 2 - (u - 20.0) ** 2)) * 0.05, depth)
    depth = depth + rng.normal(0.0, 0.004, depth.shape)
    depth = np.round(depth * 1000.0) / 1000.0   # millimetres, as a sensor stores them
    depth[rng.random(depth.shape) < 0.06] = 0.0
    depth[0:3, 25:30] = 0.0                     # a hole region at the border
    depth[12, 19:22] = 0.0                      # a hole inside the cylinder
    return depth.astype(np.float32)


def box_sum(a, k):
    """The k x k box sum of a (zero outside the image), rows then columns."""
    r = k // 2
    padded = np.pad(a, ((0, 0), (r, r)))
    rows = sum(padded[:, t:t + a.shape[1]] for t in range(k))
    padded = np.pad(rows, ((r, r), (0, 0)))
    return sum(padded[t:t + a.shape[0], :] for t in range(k))


def local_valid_mean(depth, k):
    d = depth.astype(np.float64)
    valid = (d > 0).astype(np.float64)
    return box_sum(d * valid, k) / np.maximum(box_sum(valid, k), 1e-3 * k * k)


def relief(depth, k, clip, fill):
    d = depth.astype(np.float64)
    hole = 0.0 if fill else -1.5 * clip
    return np.where(d > 0, np.clip(d - local_valid_mean(depth, k), -clip, clip), hole)


def normals(depth, k, hfov_deg):
    z = local_valid_mean(depth, k)
    valid = depth > 0
    f = 0.5 * W / np.tan(0.5 * np.radians(hfov_deg))
    cx, cy = 0.5 * (W - 1), 0.5 * (H - 1)
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    points = np.stack([(u - cx) * z / f, (v - cy) * z / f, z], axis=-1)   # (H, W, 3)
    pad_valid = np.pad(valid, 1)
    pad_points = np.pad(points, ((1, 1), (1, 1), (0, 0)))

    def tangent(di, dj):
        ahead = pad_valid[1 + di:1 + di + H, 1 + dj:1 + dj + W]
        behind = pad_valid[1 - di:1 - di + H, 1 - dj:1 - dj + W]
        a = np.where(ahead[..., None], pad_points[1 + di:1 + di + H, 1 + dj:1 + dj + W], points)
        b = np.where(behind[..., None], pad_points[1 - di:1 - di + H, 1 - dj:1 - dj + W], points)
        return a - b, ahead | behind

    tu, has_u = tangent(0, 1)
    tv, has_v = tangent(1, 0)
    n = np.cross(tv, tu)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(norm > 0, n / np.where(norm > 0, norm, 1.0), 0.0)
    n = np.where((np.sum(n * points, axis=-1, keepdims=True) > 0), -n, n)
    n = np.where((valid & has_u & has_v)[..., None], n, 0.0)
    return np.transpose(n, (2, 0, 1))


def write(out_dir):
    depth = _scene()
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32).reshape((-1, H, W)))
    tensors = {
        "depth": t(depth),
        "relief_w5_fill": t(relief(depth, 5, 0.2, True)),
        "relief_w3_mark": t(relief(depth, 3, 0.15, False)),
        "normals_w3": t(normals(depth, 3, 58.0)),
        "normals_w1_fov70": t(normals(depth, 1, 70.0)),
    }
    return [save_safetensors(os.path.join(out_dir, "depth_encoding.safetensors"), tensors)]
