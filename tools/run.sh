#!/usr/bin/env bash
# One entry point for users and CI:
#   bash tools/run.sh demo [--task semantic]   set up, then train + evaluate on
#                                              the embedded synthetic dataset
#   bash tools/run.sh test [pytest args]       set up, then run the test suite
#   bash tools/run.sh setup                    only set up the environment
#   bash tools/run.sh setup --wheelhouse DIR   offline: install everything but
#                                              torch from a folder of wheels
#                                              (tools/misc/fill_wheelhouse.sh)
#
# Set-up is idempotent. Inside an active virtualenv/conda env it installs
# there (GPU users: install your CUDA build of torch first, it is kept).
# Otherwise it creates, once, an isolated venv outside the repository at
# $MMPOINTREND_VENV (default ~/.cache/mmpointrend/venv) and reuses it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"
[ $# -gt 0 ] && shift

log() { printf '[mmpointrend] %s\n' "$*" >&2; }

pick_python() {
  if [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; then
    PY="$(command -v python)"
    log "using the active environment: $PY"
    return
  fi
  local venv="${MMPOINTREND_VENV:-$HOME/.cache/mmpointrend/venv}"
  if [ ! -x "$venv/bin/python" ]; then
    local base="${PYTHON:-}"
    if [ -z "$base" ]; then
      for cand in python3.11 python3.12 python3.10 python3; do
        if command -v "$cand" >/dev/null 2>&1; then base="$cand"; break; fi
      done
    fi
    [ -n "$base" ] || { log "no python3 found; install Python 3.10-3.12"; exit 1; }
    log "creating the environment $venv with $base"
    mkdir -p "$(dirname "$venv")"
    "$base" -m venv "$venv"
  fi
  PY="$venv/bin/python"
}

setup_offline() {
  # Everything from DIR, nothing from an index; the installed torch is kept.
  local dir="$1"
  [ -d "$dir" ] || { log "--wheelhouse $dir: no such folder"; exit 2; }
  dir="$(cd "$dir" && pwd)"
  pick_python
  if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    log "no torch in $PY: install your torch build first (it is kept)"
    exit 1
  fi
  log "installing from $dir (no index), keeping torch $("$PY" -c 'import torch; print(torch.__version__)')"
  local pip=("$PY" -m pip install --disable-pip-version-check -q --no-index --find-links "$dir")
  "${pip[@]}" 'setuptools>=77,<81' wheel
  "${pip[@]}" mmcv==2.1.0 mmengine==0.10.7 mmsegmentation==1.2.2 mmdet==3.3.0 \
    numpy pycocotools ftfy regex
  "${pip[@]}" --no-deps openmim==0.3.9
  "${pip[@]}" -r "$REPO/requirements/mim.txt"
  local extras=export
  if ls "$dir"/pytest-*.whl >/dev/null 2>&1; then
    extras=tests,export
    ! ls "$dir"/stardist-*.whl >/dev/null 2>&1 || "${pip[@]}" --no-deps stardist==0.9.2
  fi
  "${pip[@]}" --no-build-isolation -e "$REPO[$extras]"
  "$PY" -c 'import mmpointrend, mmcv.ops, mmseg, mmdet'
  local stamp want
  stamp_paths
  echo "$want" > "$stamp"
  log "environment ready (offline): $PY"
}

# The set-up is redone when the requirements, the package metadata or this
# script change; the stamp lives in the environment.
stamp_paths() {
  stamp="$("$PY" -c 'import sys; print(sys.prefix)')/.mmpointrend-setup"
  want="$(cat "$REPO/requirements/"*.txt "$REPO/pyproject.toml" "$REPO/tools/run.sh" | sha256sum | cut -c1-16)"
}

setup_env() {
  pick_python
  local stamp want
  stamp_paths
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
     && "$PY" -c 'import mmpointrend, mmcv.ops, mmseg, mmdet' >/dev/null 2>&1; then
    return
  fi
  local pip=("$PY" -m pip install --disable-pip-version-check)
  log "installing build tools"
  "${pip[@]}" -q --upgrade pip 'setuptools>=77,<81' wheel ninja
  if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    log "installing torch 2.13.0"
    "${pip[@]}" -q torch==2.13.0
  else
    log "keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
  fi
  "${pip[@]}" -q mmengine==0.10.7 numpy pycocotools
  if ! "$PY" - <<'EOF' >/dev/null 2>&1
import mmcv, mmcv.ops
assert mmcv.__version__ == '2.1.0'
EOF
  then
    log "building mmcv 2.1.0 with its compiled ops (about 10 minutes on 2 cores; pip caches the wheel)"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" "${pip[@]}" --no-build-isolation mmcv==2.1.0
  fi
  log "installing mmsegmentation 1.2.2, mmdet 3.3.0 and mmpointrend (editable)"
  "${pip[@]}" -q mmsegmentation==1.2.2 mmdet==3.3.0 ftfy regex
  # Only stardist's bundled DSB2018 image is used (its dependencies include
  # TensorFlow, which nothing here needs).
  "${pip[@]}" -q --no-deps stardist==0.9.2
  # openmim (for `mim download mmpointrend ...`) without its dataset-download
  # dependencies: they pin setuptools 60 and an old rich, which break torch.
  "${pip[@]}" -q --no-deps openmim==0.3.9
  "${pip[@]}" -q -r "$REPO/requirements/mim.txt"
  # tests + ONNX export (onnx, onnxruntime, onnxscript)
  "${pip[@]}" -q --no-build-isolation -e "$REPO[tests,export]"
  "$PY" -c 'import mmpointrend, mmcv.ops, mmseg, mmdet'
  echo "$want" > "$stamp"
  log "environment ready: $PY"
}

case "$cmd" in
  setup)
    if [ "${1:-}" = "--wheelhouse" ]; then
      [ $# -ge 2 ] || { log "usage: bash tools/run.sh setup --wheelhouse DIR"; exit 2; }
      setup_offline "$2"
    elif [ $# -gt 0 ]; then
      log "unknown setup option $1 (only --wheelhouse DIR)"; exit 2
    else
      setup_env
    fi
    ;;
  test)
    setup_env
    cd "$REPO"
    exec "$PY" -m pytest "$@"
    ;;
  demo)
    setup_env
    cd "$REPO"
    exec "$PY" tools/demo.py "$@"
    ;;
  *)
    echo "usage: bash tools/run.sh {demo|test|setup} [args]" >&2
    exit 2
    ;;
esac
