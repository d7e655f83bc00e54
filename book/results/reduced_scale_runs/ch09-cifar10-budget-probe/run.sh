#!/bin/bash
# Budget probe for chapter 9 on CIFAR-10 (issue #11 item 4): does 002's model (variant acreal =
# preset acbiggan-cifar10) at chapter 9's cpu knobs (batch 32, g_ch 8, d_ch 4, EMA 0.99 from 170)
# reach better-than-chance ResNet-20 accuracy, and after how many iterations? Ran at commit
# e94ba79 from a worktree's root, one thread, ACGAN_DATA=../shared/datasets.
# Usage (from the repository root): bash book/results/reduced_scale_runs/ch09-cifar10-budget-probe/run.sh [OUT]
set -e
export OMP_NUM_THREADS=1 ACGAN_DATA=${ACGAN_DATA:-../shared/datasets}
PY=${PYTHON:-python}
OUT=${1:-runs/probe09}
K="batch_size=32 g_ch=8 d_ch=4 ema=0.99 ema_start=170 log_every=50 sample_every=500 ckpt_every=500 seed=0"
$PY -m acgan_lib train --no-progress --preset acbiggan-cifar10 --out "$OUT/run" iters=500 $K
for it in 500 1000 2000 3000 4000; do
  if [ $it != 500 ]; then $PY -m acgan_lib train --no-progress --resume "$OUT/run" iters=$it; fi
  $PY -m acgan_lib evaluate --checkpoint "$OUT/run/final.pt" --out "$OUT/eval-$it.json" --metrics accuracy classifier_score -n 1000 --device cpu
done
