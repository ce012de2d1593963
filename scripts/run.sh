#!/usr/bin/env bash
# The main job: builds xmkd, trains on the built-in synthetic RGB-D benchmark (generated on the
# fly from its seed) the two unimodal students (RGB, depth) and DisCoM-KD, then prints the test
# weighted F1 of each deployable single-modality network: student vs DisCoM-KD, per modality.
# About 13 minutes on a 2-core CPU; on a machine with a GPU pass --device cuda.
#   scripts/run.sh [--device cpu|cuda] [any xmkd train option, e.g. --set train.epochs=20]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"   # no spinning threads on a shared machine
runs=runs/main
mkdir -p "$runs"
train() {   # train NAME CONFIG [options]: trains unless runs/main/NAME already finished
  local name=$1 config=$2; shift 2
  if [[ -f "$runs/$name/eval.json" ]]; then echo "$runs/$name: already trained"; return; fi
  if [[ -f "$runs/$name/last.safetensors" ]]; then
    build/xmkd train --resume "$runs/$name"
  else
    build/xmkd train --config "$config" --out "$runs/$name" "$@"
  fi
}
train student-rgb configs/synthetic/cls_student.json --set method.modality=rgb "$@"
train student-depth configs/synthetic/cls_student.json --set method.modality=depth "$@"
train discom_kd configs/synthetic/cls_discom_kd.json "$@"
echo
echo "Synthetic benchmark, classification: each modality's deployed network alone on the test split"
build/xmkd report "$runs/student-rgb" "$runs/student-depth" "$runs/discom_kd"
