#!/usr/bin/python3
"""Checks an ONNX file written by `xmkd export --format onnx` with tools that are not xmkd.

    onnx_check.py MODEL.onnx INPUT.npy OUTPUT.npy

1. onnx.checker.check_model(full_check=True): the model is valid ONNX and its shapes infer.
2. OpenCV's dnn module (an independent runtime) reads it and runs INPUT (N, C, H, W) float32;
   the logits it computes are written to OUTPUT for the caller (tests/e2e/test_onnx_export.cpp)
   to compare with xmkd's own.
Exits 0 on success; on failure, prints what failed and exits 1.
"""
import sys

import cv2
import numpy as np
import onnx


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, input_path, output_path = argv[1:]
    model = onnx.load(model_path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as error:
        print(f"{model_path}: onnx.checker: {error}", file=sys.stderr)
        return 1
    x = np.load(input_path)
    if x.dtype != np.float32 or x.ndim != 4:
        print(f"{input_path}: expected a (N, C, H, W) float32 array, got {x.dtype} {x.shape}", file=sys.stderr)
        return 1
    net = cv2.dnn.readNetFromONNX(model_path)
    net.setInput(x)
    y = net.forward(model.graph.output[0].name)
    np.save(output_path, np.ascontiguousarray(y, dtype=np.float32))
    print(f"{model_path}: valid ONNX (opset {model.opset_import[0].version}); "
          f"OpenCV {cv2.__version__}: {x.shape} -> {y.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
