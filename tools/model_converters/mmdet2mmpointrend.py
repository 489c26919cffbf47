"""Convert an mmdet 3.x PointRend checkpoint to mmpointrend's keys.

Example:
    python tools/model_converters/mmdet2mmpointrend.py \
        point_rend_r50_caffe_fpn_mstrain_1x_coco-1bcb5fb4.pth \
        pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco_mmpointrend.pth
"""

import argparse
import sys

from mmpointrend.converters import convert_mmdet_pointrend
from mmpointrend.utils.ckpt_io import save_converted
from mmpointrend.utils.compat import load_local_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='mmdet checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--force', action='store_true', help='overwrite dst')
    args = parser.parse_args()
    ckpt = load_local_checkpoint(args.src, map_location='cpu')
    converted, renamed = convert_mmdet_pointrend(ckpt.get('state_dict', ckpt))
    for old, new in renamed:
        print(f'{old:45s} -> {new}')
    try:
        save_converted(converted, args.dst, args.src, args.force)
    except (ValueError, FileExistsError) as exc:
        sys.exit(f'error: {exc}')
    print(f'{len(renamed)} keys renamed, {len(converted)} saved to {args.dst}')


if __name__ == '__main__':
    main()
