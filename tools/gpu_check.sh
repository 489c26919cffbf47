#!/usr/bin/env bash
# One GPU check, for any CUDA machine (about 6-8 minutes on one H200):
#   bash tools/gpu_check.sh [OUT_DIR]          (default work_dirs/gpu_check)
# 1. the cuda test layer (pytest -m cuda: CPU vs CUDA, parity with mmseg and
#    mmdet on the GPU, fp16 autocast);
# 2. the synthetic semantic and instance configs trained with --amp (fp16)
#    through tools/dist_train.sh with one process (NCCL), then resumed from
#    the saved checkpoint;
# 3. the GPU benchmarks (semantic head, instance refinement, end to end)
#    against mmseg's and mmdet's PointRend in the same runs.
# Every step writes its log to OUT_DIR; OUT_DIR/summary.txt has one line per
# step (exit status, seconds) and OUT_DIR/env.txt the GPU, driver, torch and
# CUDA versions. A failing step does not stop the others. Set PYTHON to pick
# the interpreter; ITERS (default 300) for the training length.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$REPO/work_dirs/gpu_check}"
PY="${PYTHON:-python}"
ITERS="${ITERS:-300}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$REPO"
export PYTHONPATH="$REPO:${PYTHONPATH:-}" PYTHON="$PY"
summary="$OUT/summary.txt"
: > "$summary"

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  "$PY" -c 'import torch, mmcv, mmengine; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version()); print("mmcv", mmcv.__version__, "mmengine", mmengine.__version__); print("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")' 2>&1
  lscpu | grep -m1 'Model name'
} > "$OUT/env.txt"
cat "$OUT/env.txt"

step() {  # step NAME SECONDS COMMAND...
  local name="$1" budget="$2" start rc
  shift 2
  start=$(date +%s)
  echo "[gpu_check] $name (at most ${budget}s)" >&2
  timeout --kill-after=10 "$budget" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  printf '%-20s rc=%-3s %4ss\n' "$name" "$rc" "$(( $(date +%s) - start ))" | tee -a "$summary" >&2
  return 0
}

step cuda_tests 180 "$PY" -m pytest -m cuda tests/cuda -q -p no:cacheprovider \
  -o addopts="" --junitxml="$OUT/cuda_tests.xml"

DATA="$OUT/data"
step make_data 120 "$PY" -c "from mmpointrend.dataset_makers import generate_synthetic_dataset as g; g('$DATA', num_train=32, num_val=8, size=128, seed=0)"
SEM=configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py
INS=configs/synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py
HALF=$(( ITERS * 2 / 3 ))
common=(default_hooks.checkpoint.interval="$HALF" train_cfg.val_interval="$ITERS"
        default_hooks.visualization.draw=False)
sem_opts=(train_dataloader.dataset.data_root="$DATA" val_dataloader.dataset.data_root="$DATA"
          test_dataloader.dataset.data_root="$DATA" "${common[@]}")
ins_opts=(train_dataloader.dataset.data_root="$DATA" val_dataloader.dataset.data_root="$DATA"
          val_evaluator.ann_file="$DATA/annotations/instances_val.json" "${common[@]}")
for task in sem ins; do
  if [ "$task" = sem ]; then cfg=$SEM; opts=("${sem_opts[@]}"); else cfg=$INS; opts=("${ins_opts[@]}"); fi
  step "train_${task}_amp" 150 env PORT=$((29500 + RANDOM % 500)) bash tools/dist_train.sh "$cfg" 1 --amp \
    --work-dir "$OUT/$task" --cfg-options "${opts[@]}" train_cfg.max_iters="$HALF"
  step "resume_${task}_amp" 150 env PORT=$((29500 + RANDOM % 500)) bash tools/dist_train.sh "$cfg" 1 --amp \
    --work-dir "$OUT/$task" --resume "$OUT/$task/iter_${HALF}.pth" \
    --cfg-options "${opts[@]}" train_cfg.max_iters="$ITERS"
done

step bench_semantic 240 "$PY" tools/analysis/benchmark_semantic.py --device cuda \
  --cases ac --repeats 5 --runs 1 --output "$OUT/benchmarks.md"
step bench_instance 180 "$PY" tools/analysis/benchmark_instance.py --device cuda \
  --repeats 5 --runs 1 --output "$OUT/benchmarks.md"
step bench_end_to_end 180 "$PY" tools/analysis/benchmark_end_to_end.py --device cuda \
  --repeats 3 --output "$OUT/benchmarks.md"

echo "[gpu_check] done: $summary" >&2
cat "$summary"
