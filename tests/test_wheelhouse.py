"""Offline install from a wheelhouse, keeping the installed torch.

``tools/misc/fill_wheelhouse.sh`` fills a folder for this interpreter and
torch; ``bash tools/run.sh setup --wheelhouse DIR`` then installs everything
but torch into a fresh virtualenv from that folder alone: pip's index is
pointed at a closed port, so any download would fail. The fresh venv sees
this environment's torch (and only torch and its dependencies) through a
``.pth`` file, as a cluster environment has its own torch build.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow


def _closure(name: str) -> set[str]:
    """Torch and every distribution it requires (unconditionally)."""
    seen, todo = set(), [name]
    while todo:
        dist = metadata.distribution(todo.pop())
        key = dist.metadata['Name'].lower().replace('_', '-')
        if key in seen:
            continue
        seen.add(key)
        for req in dist.requires or []:
            if ';' in req and 'extra' in req.split(';', 1)[1]:
                continue
            dep = re.match(r'[A-Za-z0-9_.-]+', req).group(0)
            try:
                metadata.distribution(dep)
            except metadata.PackageNotFoundError:
                continue  # a marker-excluded dependency
            todo.append(dep)
    return seen


def _torch_only(folder: str) -> None:
    """Symlink torch's distributions (code and metadata) into ``folder``."""
    os.makedirs(folder)
    for name in _closure('torch'):
        dist = metadata.distribution(name)
        tops = {str(f).split('/')[0] for f in dist.files or []}
        for top in tops:
            src = osp.join(str(dist.locate_file('')), top)
            if top.endswith('.pth') or top == '..' or not osp.exists(src):
                continue
            dst = osp.join(folder, top)
            if not osp.exists(dst):
                os.symlink(src, dst)


def test_offline_install_from_a_wheelhouse(tmp_path):
    house = tmp_path / 'wheels'
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(
        ['bash', 'tools/misc/fill_wheelhouse.sh', str(house)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    wheels = sorted(os.listdir(house))
    assert any(w.startswith('mmcv-2.1.0-') for w in wheels), wheels
    assert any(w.startswith('mmpointrend-') for w in wheels), wheels
    assert not any(w.startswith('torch-') for w in wheels), wheels
    assert 'SHA256SUMS' in wheels and 'MANIFEST.txt' in wheels

    venv = tmp_path / 'venv'
    base = getattr(sys, '_base_executable', sys.executable)
    subprocess.run([base, '-m', 'venv', str(venv)], check=True, timeout=300)
    site = subprocess.run(
        [str(venv / 'bin' / 'python'), '-c', 'import site; print(site.getsitepackages()[0])'],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    _torch_only(str(tmp_path / 'torch_only'))
    with open(osp.join(site, 'cluster_torch.pth'), 'w') as f:
        f.write(str(tmp_path / 'torch_only') + '\n')

    offline = dict(
        os.environ,
        VIRTUAL_ENV=str(venv),
        PATH=f'{venv}/bin:{os.environ["PATH"]}',
        PIP_INDEX_URL='http://127.0.0.1:9/simple',  # closed: no downloads
        PIP_NO_CACHE_DIR='1',
    )
    offline.pop('CONDA_PREFIX', None)
    proc = subprocess.run(
        ['bash', 'tools/run.sh', 'setup', '--wheelhouse', str(house)],
        cwd=ROOT,
        env=offline,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert 'keeping torch' in proc.stderr
    check = (
        'import torch, mmcv, mmcv.ops, mmseg, mmdet, mmengine, mmpointrend;'
        'print(torch.__file__); print(mmcv.__version__)'
    )
    out = subprocess.run(
        [str(venv / 'bin' / 'python'), '-c', check],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    torch_file, mmcv_version = out.stdout.split()
    assert torch_file.startswith(str(tmp_path / 'torch_only'))  # kept
    assert mmcv_version == '2.1.0'
    assert not any(n.startswith('torch') for n in os.listdir(site))
    # a second call is a no-op for run.sh test (the stamp is written)
    assert (venv / '.mmpointrend-setup').is_file()
