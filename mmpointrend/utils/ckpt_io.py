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


def convert_checkpoint_cli(description: str, convert, argv=None) -> None:
    """Command line of the ``.pth`` -> ``.pth`` key-renaming converters.

    Args:
        description (str): ``--help`` text.
        convert (Callable): ``state_dict -> (state_dict, renamed pairs)``.
        argv (list[str], optional): Arguments (defaults to ``sys.argv``).
    """
    import argparse
    import sys

    from .compat import load_local_checkpoint

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='input checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--force', action='store_true', help='overwrite dst')
    args = parser.parse_args(argv)
    ckpt = load_local_checkpoint(args.src, map_location='cpu')
    try:
        converted, renamed = convert(ckpt.get('state_dict', ckpt))
        for old, new in renamed:
            print(f'{old:45s} -> {new}')
        save_converted(converted, args.dst, args.src, args.force)
    except (ValueError, FileExistsError) as exc:
        sys.exit(f'error: {exc}')
    print(f'{len(renamed)} keys renamed, {len(converted)} saved to {args.dst}')
