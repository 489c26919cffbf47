"""Safe writing of converted checkpoints, shared by the converter tools."""

from __future__ import annotations

import os
import os.path as osp

import torch


def save_converted(state_dict: dict, dst: str, src: str, force: bool) -> None:
    """Write ``{'state_dict', 'meta'}`` to ``dst`` atomically.

    Args:
        state_dict (dict): Converted weights.
        dst (str): Output path.
        src (str): The input path, recorded in ``meta``.
        force (bool): Overwrite an existing ``dst``.
    """
    if osp.abspath(src) == osp.abspath(dst):
        raise ValueError(
            'src and dst are the same file; choose another output'
        )
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst} exists; pass --force to overwrite it')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save(dict(state_dict=state_dict, meta=dict(converted_from=src)), tmp)
    os.replace(tmp, dst)  # never leave a half-written output behind
