#!/usr/bin/env bash
# Runs the same training-step benchmark in xmkd and in PyTorch and prints both and the ratio.
#   bench/compare.sh [--model resnet18|segmenter] [--batch 32] [--size 64] [--channels 3] [--device cpu] ...
# Every argument is passed to both `xmkd bench train-step` and bench/torch_reference.py.
# XMKD (default build/xmkd) and PYTHON (default /usr/bin/python3) may be overridden.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
xmkd=${XMKD:-$here/build/xmkd}
python=${PYTHON:-/usr/bin/python3}
[ -x "$xmkd" ] || { echo "compare.sh: $xmkd not found; run scripts/setup.sh first" >&2; exit 1; }
"$python" -c "import torch, torchvision" 2>/dev/null ||
  { echo "compare.sh: PyTorch not found for $python; apt-get install python3-torch python3-torchvision" >&2; exit 1; }

ours=$("$xmkd" bench train-step "$@")
theirs=$("$python" "$here/bench/torch_reference.py" "$@")
echo "$ours"
echo "$theirs"
"$python" - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
speed = a["images_per_s"] / b["images_per_s"]
mem = a["peak_rss_delta_bytes"] / max(b["peak_rss_delta_bytes"], 1)
print(f"{a['model']} batch {a['batch']} {a['size']}x{a['size']}x{a['channels']} on {a['device']}: "
      f"xmkd {a['images_per_s']:.1f} img/s vs PyTorch {b['images_per_s']:.1f} img/s "
      f"-> speed ratio {speed:.2f}x (>1: xmkd faster); "
      f"peak RSS growth xmkd {a['peak_rss_delta_bytes']/2**20:.0f} MiB vs PyTorch {b['peak_rss_delta_bytes']/2**20:.0f} MiB "
      f"-> memory ratio {mem:.2f} (<1: xmkd smaller)")
PY
