"""Write the PointRend version of an mmseg or mmdet config.

The new config inherits BASE (``_base_ = BASE``) and changes only what
PointRend needs; the base model is built once on a small input to find its
feature levels, strides and channels. The written config is loaded and its
model built before the command returns (``--no-check`` skips that).

Examples:
    python tools/misc/pointrendify.py \
        mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py \
        work_dirs/pointrend_segformer_mit-b0_8xb2-160k_ade20k-512x512.py
    python tools/misc/pointrendify.py \
        mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py out.py \
        --fine-levels 0 --steps 5
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[1:]),
    )
    parser.add_argument(
        'base', help='base config: a file, or mmseg::... / mmdet::...'
    )
    parser.add_argument('out', help='the PointRend config to write')
    parser.add_argument(
        '--fine-levels',
        type=int,
        nargs='+',
        metavar='INDEX',
        help='feature levels the point head reads (default: the finest)',
    )
    parser.add_argument(
        '--steps',
        type=int,
        help='inference subdivision steps (default: semantic '
        'log2(coarse stride), instance 5)',
    )
    parser.add_argument(
        '--num-points', type=int, help='points re-predicted per step'
    )
    parser.add_argument(
        '--train-points',
        type=int,
        help='semantic training points per image (default: cells of a '
        'stride-16 map of the crop)',
    )
    parser.add_argument(
        '--probe-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size of the probe (default 256 256; models with '
        'fixed-size position embeddings need their crop size)',
    )
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='do not load the written config and build its model',
    )
    parser.add_argument(
        '--force', action='store_true', help='overwrite OUT if it exists'
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mmpointrend.any_model import (
        PointRendifyError,
        base_reference,
        pointrendify,
    )
    from mmpointrend.checkpoint.io import check_output_path, write_text

    try:
        check_output_path(args.out, args.base, args.force, option='OUT')
        for name in ('steps', 'num_points', 'train_points'):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise ValueError(
                    f'--{name.replace("_", "-")} must be positive, got {value}'
                )
        result = pointrendify(
            args.base,
            fine_levels=args.fine_levels,
            steps=args.steps,
            num_points=args.num_points,
            train_points=args.train_points,
            input_size=args.probe_size,
        )
    except FileNotFoundError as exc:
        print(f'error: {args.base}: {exc}', file=sys.stderr)
        return 2
    except (PointRendifyError, ValueError, FileExistsError) as exc:
        print(f'error: {args.base}: {exc}', file=sys.stderr)
        return 2
    print(result.probe.describe())
    for note in result.notes:
        print(note)
    write_text(args.out, result.text(base_reference(args.base, args.out)))
    if not args.no_check:
        from mmengine.config import Config

        from mmpointrend.apis import build_model

        try:
            build_model(Config.fromfile(args.out))
        except Exception as exc:  # the written file stays for inspection
            print(
                f'error: {args.out} was written but its model does not '
                f'build: {type(exc).__name__}: {exc}',
                file=sys.stderr,
            )
            return 1
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
