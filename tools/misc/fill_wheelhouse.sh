#!/usr/bin/env bash
# Fill a folder with every wheel mmpointrend needs besides torch, for machines
# without internet (cluster compute nodes):
#
#   bash tools/misc/fill_wheelhouse.sh DIR [--cuda-arch 9.0] [--tests]
#   # then, on the offline machine, in an environment that has its torch:
#   bash tools/run.sh setup --wheelhouse DIR
#
# Run it with the *target* Python and torch: on a machine with internet that
# has the same Python version, the same torch build (CUDA or CPU) and, for
# CUDA ops, nvcc (set CUDA_HOME). Set PYTHON to choose the interpreter
# (default: the active environment's python). mmcv 2.1.0 has no wheel for
# current torch releases, so its wheel is built here (about 10 minutes
# for CPU ops on 2 cores, about an hour with CUDA kernels) and pip caches it.
#   --cuda-arch LIST  build mmcv's CUDA kernels for these compute
#                     capabilities (TORCH_CUDA_ARCH_LIST, e.g. "8.0;9.0")
#   --tests           also the test requirements (pytest, ruff, lvis, ...)
# DIR gets the wheels, SHA256SUMS and MANIFEST.txt (Python, torch, CUDA).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { printf '[fill_wheelhouse] %s\n' "$*" >&2; }
usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" >&2; exit 2; }

dest="" arch="" tests=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda-arch) [ $# -ge 2 ] || usage; arch="$2"; shift 2 ;;
    --tests) tests=1; shift ;;
    -h|--help) usage ;;
    -*) log "unknown option $1"; usage ;;
    *) [ -z "$dest" ] || usage; dest="$1"; shift ;;
  esac
done
[ -n "$dest" ] || usage
PY="${PYTHON:-python}"
if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
  log "$PY has no torch: install the torch build of the target machine first"
  exit 1
fi
if [ -e "$dest" ] && [ ! -d "$dest" ]; then
  log "$dest exists and is not a folder; give a folder for the wheels"
  exit 1
fi
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
pip=("$PY" -m pip --disable-pip-version-check)

if ls "$dest"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  log "keeping $(basename "$dest"/mmcv-2.1.0-*.whl)"
else
  if [ -n "$arch" ]; then
    log "building mmcv 2.1.0 with CUDA kernels for $arch"
    export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch"
  else
    log "building mmcv 2.1.0 with CPU ops"
  fi
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" "${pip[@]}" wheel -q \
    --no-build-isolation --no-deps -w "$dest" mmcv==2.1.0
fi

log "the mmpointrend wheel"
# setuptools builds in $REPO/build and never deletes what it copied there
# before: a module removed or moved since would ship again in the wheel.
rm -rf "$REPO/build/lib/mmpointrend" "$REPO/build/bdist."*
"${pip[@]}" wheel -q --no-build-isolation --no-deps -w "$dest" "$REPO"

# Everything else as binary wheels for this interpreter and platform, with
# their dependencies. torch is already installed on the target and is left
# out (nothing below depends on it but mmpointrend itself).
wanted="$dest/.requirements.txt"
files=(runtime mminstall export mim)
[ "$tests" = 1 ] && files+=(tests)
for f in "${files[@]}"; do
  grep -vE '^\s*(#|-r|$)' "$REPO/requirements/$f.txt"
done | grep -vE '^(torch|mmcv)\b' > "$wanted"
log "downloading the other wheels"
"${pip[@]}" download -q --only-binary=:all: -d "$dest" --find-links "$dest" \
  -r "$wanted" "$(ls "$dest"/mmcv-2.1.0-*.whl)" ftfy regex 'setuptools>=77,<81' wheel
# as tools/run.sh installs them: without their unneeded, conflicting pins
nodeps=(openmim==0.3.9)
[ "$tests" = 1 ] && nodeps+=(stardist==0.9.2)
"${pip[@]}" download -q --only-binary=:all: --no-deps -d "$dest" "${nodeps[@]}"
rm -f "$wanted"
if ls "$dest"/torch-*.whl >/dev/null 2>&1; then
  log "a dependency pulled torch into $dest; remove it from the requirements"
  exit 1
fi

"$PY" - "$dest" <<'PYEOF' > "$dest/MANIFEST.txt"
import platform, sys, torch
print(f'python {platform.python_version()} ({sys.implementation.cache_tag})')
print(f'platform {platform.machine()} {platform.system()}')
print(f'torch {torch.__version__} (cuda {torch.version.cuda})')
PYEOF
(cd "$dest" && sha256sum ./*.whl > SHA256SUMS)
log "$(ls "$dest"/*.whl | wc -l) wheels in $dest ($(du -sh "$dest" | cut -f1))"
