"""Command-line pieces of the tools that read or convert checkpoints."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .io import check_output_path, save_converted
from .loading import (
    TRUST_ENV,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
    load_weights_pickle,
)


def src_dst_parser(description: str) -> argparse.ArgumentParser:
    """The ``src dst [--force]`` command line of every converter tool.

    Args:
        description (str): The tool's one-line description.

    Returns:
        argparse.ArgumentParser: A parser to extend.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='input file')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing dst'
    )
    return parser


def _read_state_dict(ckpt: Any, src: str) -> tuple[dict, dict]:
    """The state dict and meta of a loaded ``.pth`` checkpoint.

    Args:
        ckpt (Any): What the file held.
        src (str): Its path, for messages.

    Returns:
        tuple[dict, dict]: State dict and meta (may be empty).
    """
    if not isinstance(ckpt, dict):
        raise ValueError(
            f'{src} holds a {type(ckpt).__name__}, not a checkpoint dict '
            "(a state dict, or a dict with 'state_dict')"
        )
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise ValueError(
            f"{src}: 'state_dict' is a {type(state).__name__}, not a dict"
        )
    return state, meta


def _read_detectron2(data: Any, src: str) -> tuple[dict, dict]:
    """The ``model`` weights of a detectron2 pickle.

    Args:
        data (Any): What the pickle held.
        src (str): Its path, for messages.

    Returns:
        tuple[dict, dict]: ``name -> array`` and an empty meta.
    """
    if not isinstance(data, dict):
        raise ValueError(
            f'{src} holds a {type(data).__name__}, not a detectron2 '
            "checkpoint (a dict with 'model')"
        )
    weights = data.get('model', data)
    if not isinstance(weights, dict) or not weights:
        raise ValueError(
            f'{src} has no weights: expected a dict whose "model" entry maps '
            'parameter names to arrays (a detectron2 model-zoo .pkl)'
        )
    return weights, {}


def convert_checkpoint_cli(
    description: str,
    convert: Callable[[dict], tuple[dict, Sequence]],
    argv: Sequence[str] | None = None,
    detectron2: bool = False,
) -> None:
    """Command line of the converters: ``SRC DST [--force]``.

    Args:
        description (str): ``--help`` text.
        convert (Callable): ``weights -> (state_dict, renamed or skipped)``.
        argv (Sequence[str], optional): Arguments (defaults to
            ``sys.argv``).
        detectron2 (bool): SRC is a detectron2 ``.pkl`` (read with the
            restricted unpickler) instead of a ``.pth``.
    """
    parser = src_dst_parser(description)
    if not detectron2:
        add_trust_argument(parser)
    args = parser.parse_args(argv)
    try:
        check_output_path(args.dst, args.src, args.force)
        if detectron2:
            weights, meta = _read_detectron2(
                load_weights_pickle(args.src), args.src
            )
        else:
            ckpt = load_checkpoint_file(args.src, map_location='cpu')
            weights, meta = _read_state_dict(ckpt, args.src)
        converted, renamed = convert(weights)
        if not converted:
            raise ValueError(f'{args.src}: nothing to convert')
        for item in renamed:
            print(
                f'{item[0]:45s} -> {item[1]}'
                if isinstance(item, tuple)
                else f'skipped {item}'
            )
        save_converted(converted, args.dst, args.src, args.force, meta)
    except (
        ValueError,
        KeyError,
        OSError,
        CorruptCheckpointError,
        UnsafeCheckpointError,
    ) as exc:
        sys.exit(f'error: {exc}')
    print(f'{len(renamed)} keys renamed, {len(converted)} saved to {args.dst}')


class _TrustAction(argparse.Action):
    """``--trust-checkpoint``: opt this process (and its children) in."""

    def __call__(self, parser, namespace, values, option_string=None):
        os.environ[TRUST_ENV] = '1'
        setattr(namespace, self.dest, True)


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--trust-checkpoint`` (opt in to a full unpickle) to a parser.

    Given on the command line it sets ``MMPOINTREND_TRUST_CHECKPOINTS=1`` for
    the process, so every loader and any worker it starts honour it.

    Args:
        parser (argparse.ArgumentParser): Parser to extend.
    """
    parser.add_argument(
        '--trust-checkpoint',
        nargs=0,
        action=_TrustAction,
        default=False,
        help='load checkpoints that hold arbitrary Python objects with a full '
        'unpickle (runs code from the file): only for files you trust',
    )
