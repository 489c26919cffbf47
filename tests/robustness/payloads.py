"""Malicious and benign checkpoint files for the robustness suite.

Every malicious file, if it were fully unpickled, would create ``marker``:
the tests assert that the marker never appears on the safe paths.
"""

from __future__ import annotations

import os
import os.path as osp
import pickle
import subprocess
import sys

import torch
from conftest import INS_CONFIG, SEM_CONFIG  # noqa: F401  (re-exported)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class RunsCommand:
    """Unpickles into ``os.system('touch marker')``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


class OpensFile:
    """Unpickles into ``open(marker, 'w')``: a benign 'payload' for opt-ins."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def write_malicious(path: str, marker: str, kind: str = 'zip') -> str:
    """Write a checkpoint-looking file whose unpickling runs a command.

    Args:
        path (str): Output path.
        marker (str): File the payload would create.
        kind (str): ``zip`` (torch.save), ``legacy`` (pre-1.6 torch format)
            or ``pickle`` (plain pickle, like detectron2's ``.pkl``).

    Returns:
        str: ``path``.
    """
    payload = {
        'state_dict': {'backbone.conv1.weight': torch.zeros(1)},
        'meta': {'evil': RunsCommand(marker)},
    }
    if kind == 'zip':
        torch.save(payload, path)
    elif kind == 'legacy':
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    elif kind == 'pickle':
        with open(path, 'wb') as f:
            pickle.dump({'model': {'w': RunsCommand(marker)}}, f, protocol=2)
    else:
        raise ValueError(kind)
    return path


def run_tool(*args: str, env: dict | None = None, timeout: int = 300):
    """``python ARGS`` from the repository root; returns the process."""
    full_env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    full_env.pop('MMPOINTREND_TRUST_CHECKPOINTS', None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def data_options(data_root: str) -> list[str]:
    """``--cfg-options`` values pointing the semantic config at a dataset."""
    return [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
    ]
