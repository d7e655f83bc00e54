#!/usr/bin/env bash
# The one command of a GPU lease, run from the repository root with $OUT set:
#   bash tools/device-job.sh [python -m tools.device job arguments]
# installs the bundle's wheels (what the device lacks: papermill, jupytext, ipykernel, ...) into
# /tmp/site, prints the GPU, Python, torch and CUDA versions, then runs the job
# (tools/device/job.py); everything is teed to $OUT/job.log.
set -uo pipefail
if [ -z "${OUT:-}" ] || [ ! -d "$OUT" ]; then
  echo "error: \$OUT must be an existing folder (the files that come back)" >&2; exit 2
fi
BUNDLE="${ACGAN_DEVICE_BUNDLE:-_build/device-bundle}"
SITE="${ACGAN_DEVICE_SITE:-/tmp/site}"   # where the wheels are installed

job() {
  if compgen -G "$BUNDLE/wheels/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
      "$BUNDLE"/wheels/*.whl || { echo "error: installing the wheels of $BUNDLE/wheels failed"; return 2; }
    export PYTHONPATH="$PWD:$SITE" PATH="$SITE/bin:$PATH"
  else
    echo "note: no wheels in $BUNDLE/wheels: using the installed packages"
    export PYTHONPATH="$PWD"
  fi
  export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  else
    echo "GPU: none (no nvidia-smi)"
  fi
  python3 -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__,
    "| CUDA", torch.version.cuda, "| cuda available", torch.cuda.is_available())'
  if [ -f "$BUNDLE/bundle.json" ]; then  # the versions the wheels ask of the device's own packages
    python3 -m tools.device device-packages --bundle "$BUNDLE" || echo "warning: see the unmet requirements above"
  fi
  python3 -m tools.device job "$@"
}

job "$@" 2>&1 | tee -a "$OUT/job.log"
exit "${PIPESTATUS[0]}"
