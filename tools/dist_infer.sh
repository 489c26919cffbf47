#!/usr/bin/env bash
# Usage: bash tools/dist_infer.sh MODEL INPUT NPROC --out-dir DIR [infer.py args]
# NPROC processes per node via torchrun, each predicting every NPROC-th
# image (gloo on CPU-only machines, NCCL with GPUs). Multi-node: set NNODES,
# NODE_RANK, MASTER_ADDR, PORT. Rerun the same command to finish a job that
# was interrupted: finished images are skipped.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bash tools/dist_infer.sh MODEL INPUT NPROC --out-dir DIR [infer.py args]" >&2
  exit 2
fi
MODEL=$1
INPUT=$2
NPROC=$3
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: NPROC must be a positive integer (processes per node), got '$NPROC'" >&2
  exit 2
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

export PYTHONPATH="$DIR/..:${PYTHONPATH:-}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$DIR/infer.py" "$MODEL" "$INPUT" --launcher pytorch "${@:4}"
