#!/bin/bash
# Precision probe (issue #13 deliverable 1, seen on chapter 3's CIFAR-10 execution at 652f0ea):
# chapter 3's CIFAR-10 main model (acgan-cifar10 at cpu scale: 3,000 iterations, batch 64;
# base-config.json is that run's config.json) scored 6.7 % ResNet-20 accuracy when trained in
# bf16 autocast (precision=auto on this CPU, commit 59250dc), against 20.2 % in the fp32
# execution before it (commit e94ba79, another CPU). Is bf16 autocast to blame, or the seed?
# This trains the same config again, in fp32 or bf16 autocast with a chosen seed, and scores
# each run (and the chapter's own bf16 seed-0 run, RUN0) with one command: the pinned
# ResNet-20, 2,000 samples, sampling seed 0. One thread per process.
# Usage (repository root): bash .../probe.sh VARIANT OUTDIR [RUN0]
#   VARIANT: <fp32|bf16>-s<seed> (e.g. fp32-s0, bf16-s1), or chapter-s0 (only scores RUN0,
#   the chapter's run folder, copied into OUTDIR)
set -e
export OMP_NUM_THREADS=1 ACGAN_DATA=${ACGAN_DATA:-../shared/datasets}
PY=${PYTHON:-python}
HERE=$(dirname "$0")
V=$1; OUT=$2; RUN0=$3
case $V in
  fp32-s[0-9]*|bf16-s[0-9]*)
    $PY -m acgan_lib train --no-progress --config "$HERE/base-config.json" --out "$OUT/$V" \
        precision=${V%%-s*} seed=${V##*-s} ;;
  chapter-s0) mkdir -p "$OUT/$V"; cp "$RUN0"/{config.json,run.json,log.csv,final.pt} "$OUT/$V/" ;;
  *) echo "error: unknown variant '$V' (<fp32|bf16>-s<seed>, or chapter-s0)" >&2; exit 2 ;;
esac
$PY -m acgan_lib evaluate --checkpoint "$OUT/$V/final.pt" --out "$OUT/$V-eval.json" \
    --metrics accuracy classifier_score -n 2000 --device cpu --seed 0
