#!/bin/bash
# Budget probe, continued (issue #11 item 4, chapter 9 on CIFAR-10): how far past chapter 9's
# 4,000 iterations must a variant train at the cpu width (batch 32, g_ch 8, d_ch 4, EMA 0.99
# from 170) to reach the chapter's 50 % quality floor? Resumes a finished chapter-9 run of one
# variant (runs/book/cpu/ch09-cifar10-<variant>-s0-356702, trained at 2a4707a and reused by the execution at 1019231, copied
# to DIR) to 8,000, 12,000 and 16,000 iterations and scores the EMA generator with the pinned
# ResNet-20 after each (1,000 samples). One thread; precision=auto (bf16 on a CPU with native
# bf16). Usage (from the repository root): bash book/results/reduced_scale_runs/ch09-cifar10-budget-probe/extend/extend.sh DIR OUT_PREFIX; then python .../extend/summarize.py
set -e
export OMP_NUM_THREADS=1 ACGAN_DATA=${ACGAN_DATA:-../shared/datasets}
PY=${PYTHON:-python}
DIR=$1; OUT=$2
for it in 8000 12000 16000; do
  $PY -m acgan_lib train --no-progress --resume "$DIR" iters=$it
  $PY -m acgan_lib evaluate --checkpoint "$DIR/final.pt" --out "$OUT-eval-$it.json" --metrics accuracy classifier_score -n 1000 --device cpu
done
