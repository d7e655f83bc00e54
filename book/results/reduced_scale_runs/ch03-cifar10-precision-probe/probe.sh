#!/bin/bash
# Precision probe (issue #13 deliverable 1, seen on chapter 3's CIFAR-10 execution at 652f0ea):
# chapter 3's CIFAR-10 main model (acgan-cifar10 at cpu scale: 3,000 iterations, batch 64;
# base-config.json is that run's config.json) scored 6.7 % ResNet-20 accuracy when trained in
# bf16 autocast (precision=auto on this CPU, commit 59250dc), against 20.2 % in the fp32
# execution before it (commit e94ba79, another CPU). Is bf16 autocast to blame, or the seed?
# This trains the same config once more in fp32 with seed 0 and in bf16 with seed 1, and scores
# each (and the chapter's own bf16 seed-0 run, RUN0) with one command: the pinned ResNet-20,
# 2,000 samples, sampling seed 0. One thread per process.
# Usage (repository root): bash .../probe.sh VARIANT OUTDIR [RUN0]
#   VARIANT: fp32-s0 | bf16-s1 | chapter-s0 (only scores RUN0, the chapter's run folder)
set -e
export OMP_NUM_THREADS=1 ACGAN_DATA=${ACGAN_DATA:-../shared/datasets}
PY=${PYTHON:-python}
HERE=$(dirname "$0")
V=$1; OUT=$2; RUN0=$3
mkdir -p "$OUT"
case $V in
  fp32-s0) $PY -m acgan_lib train --no-progress --config "$HERE/base-config.json" --out "$OUT/$V" precision=fp32 seed=0 ;;
  bf16-s1) $PY -m acgan_lib train --no-progress --config "$HERE/base-config.json" --out "$OUT/$V" precision=bf16 seed=1 ;;
  chapter-s0) mkdir -p "$OUT/$V"; cp "$RUN0"/{config.json,run.json,log.csv,final.pt} "$OUT/$V/" ;;
  *) echo "error: unknown variant '$V' (fp32-s0, bf16-s1, chapter-s0)" >&2; exit 2 ;;
esac
$PY -m acgan_lib evaluate --checkpoint "$OUT/$V/final.pt" --out "$OUT/$V-eval.json" \
    --metrics accuracy classifier_score -n 2000 --device cpu --seed 0
