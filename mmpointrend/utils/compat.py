"""Compatibility of the pinned OpenMMLab stack with torch >= 2.6.

MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device`` even on
machines without CUDA; :func:`init_cpu_distributed` sets up a gloo process
group first so that MMEngine skips its own initialisation. (Checkpoint
loading under torch's ``weights_only`` default is handled by
:mod:`mmpointrend.checkpoint.loading`.) No file in site-packages is touched.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


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
