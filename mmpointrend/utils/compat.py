"""Compatibility of the pinned OpenMMLab stack with torch >= 2.6.

Two problems are handled here, through public extension points only (no file
in site-packages is touched):

* ``torch.load`` defaults to ``weights_only=True``; MMEngine 0.10.7 calls it
  without the argument, so checkpoints holding MMEngine objects (the message
  hub's ``HistoryBuffer``, numpy arrays in the log history) fail to load and
  ``--resume`` breaks. :func:`register_checkpoint_loader` replaces MMEngine's
  local-file loader by :func:`load_local_checkpoint`, which first loads with
  ``weights_only=True`` and an allow-list of the types MMEngine checkpoints
  contain, and only then falls back to a full unpickle (with a warning), so
  a trusted checkpoint of any origin still loads.
* MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device`` even on
  machines without CUDA; :func:`init_cpu_distributed` sets up a gloo process
  group first so that MMEngine skips its own initialisation.
"""

from __future__ import annotations

import os
import os.path as osp
import pickle
import warnings
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from mmengine.runner.checkpoint import CheckpointLoader

#: Set to 1 to refuse checkpoints that need a full (unsafe) unpickle.
STRICT_ENV = 'MMPOINTREND_STRICT_CHECKPOINTS'


def _safe_globals() -> list[Any]:
    """Types that MMEngine checkpoints contain besides tensors."""
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed: list[Any] = [HistoryBuffer, np.ndarray, np.dtype]
    allowed.append(np.core.multiarray._reconstruct)
    allowed.append(np.core.multiarray.scalar)
    allowed += [type(np.dtype(t)) for t in ('f4', 'f8', 'i4', 'i8', 'u1', '?')]
    return allowed


def load_local_checkpoint(
    filename: str, map_location: str | torch.device | None = None
) -> Any:
    """Load a local checkpoint under torch's ``weights_only`` default.

    Args:
        filename (str): Path to the checkpoint.
        map_location (str | torch.device, optional): As in ``torch.load``.

    Returns:
        Any: The loaded object (usually a dict).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint {filename} does not exist; check the path given to '
            'load_from / --resume / the test checkpoint argument'
        )
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(
                filename, map_location=map_location, weights_only=True
            )
    except pickle.UnpicklingError as exc:
        if os.environ.get(STRICT_ENV) == '1':
            raise RuntimeError(
                f'{filename} holds objects outside the weights-only '
                f'allow-list and {STRICT_ENV}=1 forbids a full unpickle: '
                f'{exc}'
            ) from exc
        warnings.warn(
            f'{filename} needs a full unpickle (it stores objects outside the '
            'weights-only allow-list); load only checkpoints you trust. Set '
            f'{STRICT_ENV}=1 to refuse such files.',
            stacklevel=2,
        )
        return torch.load(
            filename, map_location=map_location, weights_only=False
        )


def register_checkpoint_loader() -> None:
    """Make MMEngine load local checkpoints with :func:`load_local_checkpoint`.

    Idempotent; used by ``load_from``, ``--resume`` and ``load_checkpoint``.
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True
    )


def init_cpu_distributed() -> bool:
    """Start a gloo process group from torchrun's variables without CUDA.

    Returns:
        bool: True if this call created the process group (the caller must
        then build DDP with ``device_ids=None``); False when CUDA is present
        (MMEngine's launcher handles it), or the group already exists.
    """
    if torch.cuda.is_available() or dist.is_initialized():
        return False
    missing = [
        k
        for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
        if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs {missing} in the environment; start '
            'the job with tools/dist_train.sh (torchrun sets them)'
        )
    dist.init_process_group(
        backend='gloo',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
    )
    return True
