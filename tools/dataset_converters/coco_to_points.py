"""Turn a COCO instances file with masks into PointSup point annotations.

Each object keeps its box and gets ``--num-points`` labelled pixels drawn
uniformly in the box (labels read from its mask); masks are dropped. The
output is written whole or not at all; an existing file is kept unless
``--force``.

Example (COCO train2017, 10 points per object, detectron2's seed)::

    python tools/dataset_converters/coco_to_points.py
        data/coco/annotations/instances_train2017.json
        data/coco/annotations/instances_train2017_n10_v1_without_masks.json
        --num-points 10 --seed 12345
"""

import argparse
import json

from mmpointrend.checkpoint.io import check_output_path, write_atomically
from mmpointrend.dataset_makers.point_annotations import (
    sample_point_annotations,
    summarize_point_annotations,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='COCO instances JSON with masks')
    parser.add_argument('dst', help='output JSON')
    parser.add_argument('--num-points', type=int, default=10)
    parser.add_argument('--seed', type=int, default=12345)
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing dst'
    )
    args = parser.parse_args()
    try:
        check_output_path(args.dst, args.src, args.force)
        with open(args.src, encoding='utf-8') as f:
            coco = json.load(f)
        if not isinstance(coco, dict):
            raise ValueError('expected a COCO instances object at the top')
        points = sample_point_annotations(coco, args.num_points, args.seed)
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise SystemExit(f'error: {args.src}: {exc}') from None
    text = json.dumps(points).encode()
    write_atomically(args.dst, lambda f: f.write(text))
    stats = summarize_point_annotations(points)
    print(
        f'{stats["objects"]} objects x {args.num_points} points -> '
        f'{args.dst}\n'
        f'{stats["positive"]:.1%} of the points are on their object; '
        f'{stats["no_positive"]:.1%} of the objects have none on them '
        f'(median mask / box area {stats["median_fill"]:.2f})',
        flush=True,
    )


if __name__ == '__main__':
    main()
