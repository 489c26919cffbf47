"""Convert an mmseg PointRend checkpoint to mmpointrend's keys.

Example:
    python tools/model_converters/mmseg2mmpointrend.py \
        pointrend_r50_512x1024_80k_cityscapes_20200711_015821-bb1ff523.pth \
        pointrend_fpn_r50_cityscapes_mmpointrend.pth
"""

import argparse
import sys

from mmpointrend.converters import convert_mmseg_pointrend
from mmpointrend.utils.ckpt_io import save_converted
from mmpointrend.utils.compat import load_local_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='mmseg checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--force', action='store_true', help='overwrite dst')
    args = parser.parse_args()
    ckpt = load_local_checkpoint(args.src, map_location='cpu')
    converted, renamed = convert_mmseg_pointrend(ckpt.get('state_dict', ckpt))
    for old, new in renamed:
        print(f'{old:45s} -> {new}')
    try:
        save_converted(converted, args.dst, args.src, args.force)
    except (ValueError, FileExistsError) as exc:
        sys.exit(f'error: {exc}')
    print(f'{len(renamed)} keys renamed, {len(converted)} saved to {args.dst}')


if __name__ == '__main__':
    main()
