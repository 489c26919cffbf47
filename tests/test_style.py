"""Ruff lint and format stay clean (configured in pyproject.toml)."""

import os.path as osp
import shutil
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _ruff():
    exe = shutil.which(
        'ruff', path=osp.dirname(sys.executable)
    ) or shutil.which('ruff')
    if exe is None:
        pytest.fail('ruff is not installed; it is in requirements/tests.txt')
    return exe


@pytest.mark.parametrize('args', [['check', '.'], ['format', '--check', '.']])
def test_ruff(args):
    proc = subprocess.run(
        [_ruff(), *args], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
