#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG NPROC [train.py args]
# NPROC processes per node via torchrun: NCCL on GPUs, gloo on CPU-only
# machines. Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT. The launch
# itself is tools/dist_launch.sh (it execs torchrun, so a signal reaches it).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash tools/dist_train.sh CONFIG NPROC [train.py args]" >&2
  exit 2
fi
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$DIR/dist_launch.sh" "$DIR/train.py" "$2" 1 "$1" "${@:3}"
