#!/usr/bin/env bash
# The main job: builds xmkd, then times a ResNet-18 training step (batch 32, 64x64, 3 channels)
# on the CPU and prints it as JSON. With PyTorch installed (python3-torch python3-torchvision),
# bench/compare.sh runs the same workload in PyTorch beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build/xmkd bench train-step --model resnet18 --batch 32 --size 64 --channels 3 --device cpu "$@"
