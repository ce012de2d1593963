#!/usr/bin/env bash
# The experiments of docs/results.md on the synthetic benchmark:
#   bench/results.sh classification|segmentation [SEED...]       (default seeds: 0 1 2)
# Every run goes to runs/results/<task>/<name>-seed<k>. A finished run (eval.json present) is
# skipped and an interrupted one resumed, so the script can be stopped and started again. Runs are
# ordered method by method (all seeds of one method before the next), the most important first.
# Several copies may work through the same grid at once (e.g. one per core with OMP_NUM_THREADS=1):
# a run another copy is training (its lock in runs/results/<task>/.locks is held) is skipped.
# At the end it prints the tables docs/results.md shows (xmkd report, bench/factors.py).
# Environment: XMKD_TRAIN_ARGS (e.g. "--device cuda"), KD_MODALITIES (default "depth rgb").
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:?usage: bench/results.sh classification|segmentation [SEED...]}; shift
seeds=("$@"); [[ ${#seeds[@]} -gt 0 ]] || seeds=(0 1 2)
kd_modalities=(${KD_MODALITIES:-depth rgb})
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
mkdir -p runs/results
flock runs/results/.setup.lock scripts/setup.sh   # one build at a time when copies start together
root=runs/results/$task
mkdir -p "$root/.locks"
c=configs/synthetic
[[ $task == classification ]] && p=cls || p=seg

train() {   # train NAME LABEL CONFIG [--set ...], for every seed
  local name=$1 label=$2 config=$3 lock; shift 3
  for s in "${seeds[@]}"; do
    local dir=$root/$name-seed$s
    exec {lock}>"$root/.locks/$name-seed$s"
    if ! flock -n $lock; then echo "$dir: another copy is training it, skipped"; exec {lock}>&-; continue; fi
    if [[ -f $dir/eval.json ]]; then :   # finished (checked under the lock: another copy may have just ended it)
    elif [[ -f $dir/last.safetensors ]]; then
      build/xmkd train --resume "$dir" ${XMKD_TRAIN_ARGS:-}
    else
      # A distilled student reads the teacher of its own seed.
      build/xmkd train --config "$config" --out "$dir" --set seed=$s --set data.split_seed=$s \
        --set run.label="$label" "${@//SEED/$s}" ${XMKD_TRAIN_ARGS:-}
    fi
    exec {lock}>&-
  done
}
runs() { for s in "${seeds[@]}"; do for n in "$@"; do [[ -f $root/$n-seed$s/eval.json ]] && echo "$root/$n-seed$s"; done; done; }

train student-rgb student $c/${p}_student.json --set method.modality=rgb
train student-depth student $c/${p}_student.json --set method.modality=depth
train teacher teacher $c/${p}_teacher.json
if [[ $task == classification ]]; then
  train discom_kd discom_kd $c/cls_discom_kd.json
else
  train crodino_kd crodino_kd $c/seg_crodino_kd.json
  train anyseg_teacher anyseg_teacher $c/seg_anyseg_teacher.json
  train anyseg_student anyseg_student $c/seg_anyseg_student.json --set method.teacher.run=$root/anyseg_teacher-seedSEED
fi
kd_names=()
for kind in kdv1 kdv2 dkd ctkd mlkd; do
  for lskd in false true; do
    label=$kind; [[ $lskd == true ]] && label=$kind+lskd
    for m in "${kd_modalities[@]}"; do
      train $label-$m $label $c/${p}_kd.json --set method.modality=$m --set method.distill.kind=$kind \
        --set method.distill.lskd=$lskd --set method.teacher.run=$root/teacher-seedSEED
      kd_names+=($label-$m)
    done
  done
done
if [[ $task == classification ]]; then
  for term in adv mod aux orth; do
    train discom_kd-no_$term "w/o L_$term" $c/cls_discom_kd.json --set method.loss.$term=false
  done
  train discom_kd-inv_only "only z_inv" $c/cls_discom_kd.json --set method.features=inv_only
  train discom_kd-inf_only "only z_inf" $c/cls_discom_kd.json --set method.features=inf_only
  echo "## Students, teacher, distilled students (test weighted F1 x100)"
  build/xmkd report $(runs student-rgb student-depth teacher "${kd_names[@]}")
  echo "## DisCoM-KD and its ablations (test weighted F1 x100)"
  build/xmkd report $(runs student-rgb student-depth discom_kd discom_kd-no_adv discom_kd-no_mod discom_kd-no_aux \
    discom_kd-no_orth discom_kd-inv_only discom_kd-inf_only)
  echo "## What each classifier learnt, factor by factor (% of test scenes; bench/factors.py)"
  bench/factors.py $(runs student-rgb student-depth teacher discom_kd "${kd_names[@]}")
else
  echo "## Students, teacher, distilled students, CroDiNo-KD (test mIoU x100)"
  build/xmkd report $(runs student-rgb student-depth teacher "${kd_names[@]}" crodino_kd)
  echo "## AnySeg per modality subset (test mIoU x100)"
  build/xmkd report $(runs anyseg_teacher anyseg_student)
fi
