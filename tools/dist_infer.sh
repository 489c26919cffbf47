#!/usr/bin/env bash
# Usage: bash tools/dist_infer.sh MODEL INPUT NPROC --out-dir DIR [infer.py args]
# NPROC processes per node via torchrun (tools/dist_launch.sh), each
# predicting every NPROC-th image (gloo on CPU-only machines, NCCL with
# GPUs). Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT. Rerun the
# same command to finish a job that was interrupted: finished images are
# skipped.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bash tools/dist_infer.sh MODEL INPUT NPROC --out-dir DIR [infer.py args]" >&2
  exit 2
fi
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$DIR/dist_launch.sh" "$DIR/infer.py" "$3" 2 "$1" "$2" "${@:4}"
