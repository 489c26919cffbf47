#!/usr/bin/env bash
# The launcher behind tools/dist_{train,test,infer}.sh:
#   bash tools/dist_launch.sh SCRIPT NPROC NUM_POSITIONAL POSITIONAL... [ARGS...]
# runs SCRIPT POSITIONAL... --launcher pytorch ARGS... in NPROC processes per
# node via torchrun: NCCL on GPUs, gloo on CPU-only machines. Multi-node:
# set NNODES, NODE_RANK, MASTER_ADDR, PORT. It execs torchrun, so a signal to
# it reaches torchrun (which stops its workers); workers also exit when
# torchrun dies (even by kill -9).
set -euo pipefail
SCRIPT=$1
NPROC=$2
NUM_POSITIONAL=$3
shift 3
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
    "$SCRIPT" "${@:1:$NUM_POSITIONAL}" --launcher pytorch "${@:$((NUM_POSITIONAL + 1))}"
