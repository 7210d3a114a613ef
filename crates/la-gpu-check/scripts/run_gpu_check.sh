#!/usr/bin/env bash
# The GPU validation in one call, on a machine with an NVIDIA GPU (driver for CUDA >= 13.0 and
# python3 with PyTorch built for CUDA 13; no Rust, no network), from the repository root of a
# copy that holds target/gpu-check/la-gpu-check (built here by `cargo xtask gpu-check`):
#
#     bash crates/la-gpu-check/scripts/run_gpu_check.sh [la-gpu-check arguments...]
#
# 1. PyTorch eager: the same auto-encoder training step and top-k (one JSON line each).
# 2. la-gpu-check: every la-ops op on CUDA against the CPU, then the timings; its table last.
# Files go to $OUT when set (the device tool's output folder), else target/gpu-check:
# gpu-check.md (the table), gpu-check.log (every row as it came), pytorch.jsonl.
set -uo pipefail
cd "$(dirname "$0")/../../.."
BIN=target/gpu-check/la-gpu-check
DEST=${OUT:-target/gpu-check}
mkdir -p "$DEST"

# CUDA 13's libcudart, libcublas(Lt), libcurand, libnvrtc: PyTorch's wheels put them in
# site-packages/nvidia/cu13/lib.
LIB=$(python3 - <<'PY'
import os
import nvidia
for p in nvidia.__path__:
    lib = os.path.join(p, "cu13", "lib")
    if os.path.isdir(lib):
        print(lib)
        break
PY
)
[ -n "$LIB" ] || { echo "no nvidia/cu13/lib in python3's packages"; exit 2; }
export LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader

echo "== PyTorch $(python3 -c 'import torch; print(torch.__version__)')"
python3 crates/la-gpu-check/scripts/bench_pytorch.py | tee "$DEST/pytorch.jsonl"

echo "== la-gpu-check $*"
ldd "$BIN" | grep -E "not found" && echo "missing libraries above"
start=$(date +%s)
"$BIN" --out "$DEST/gpu-check.md" "$@" 2> "$DEST/gpu-check.log" > /dev/null
status=$?
echo "la-gpu-check exit status $status after $(( $(date +%s) - start )) s"
if [ -s "$DEST/gpu-check.md" ]; then
  cat "$DEST/gpu-check.md"
else
  echo "no table; the last rows and errors:"
  tail -n 60 "$DEST/gpu-check.log"
fi
exit $status
