#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that xmkd's tests compare against.

Run with Debian's PyTorch (python3-torch) on the CPU in float32:
    /usr/bin/python3 tools/make_torch_fixtures.py [--out tests/fixtures] [--only NAME ...]
Each module in tools/torch_fixtures/ writes one family of fixtures (see its docstring); every
fixture is a small safetensors file of named tensors. The tests read them without Python.
"""
import argparse
import importlib
import os
import pkgutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_fixtures  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    parser.add_argument("--only", nargs="*", help="fixture families to write (module names); default all")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)   # bit-stable float32 reductions
    families = [m.name for m in pkgutil.iter_modules(torch_fixtures.__path__) if not m.name.startswith("_")]
    for name in sorted(families):
        if args.only and name not in args.only:
            continue
        module = importlib.import_module("torch_fixtures." + name)
        written = module.write(args.out)
        for path in written:
            print(f"{name}: {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
