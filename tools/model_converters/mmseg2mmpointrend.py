"""Convert an mmseg PointRend checkpoint to mmpointrend's keys.

Example:
    python tools/model_converters/mmseg2mmpointrend.py \
        pointrend_r50_512x1024_80k_cityscapes_20200711_015821-bb1ff523.pth \
        pointrend_fpn_r50_cityscapes_mmpointrend.pth
"""

import argparse
import os
import os.path as osp

import torch

from mmpointrend.converters import convert_mmseg_pointrend
from mmpointrend.utils.compat import load_local_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='mmseg checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing output'
    )
    args = parser.parse_args()
    if osp.abspath(args.src) == osp.abspath(args.dst):
        parser.error('src and dst are the same file; choose another output')
    if osp.exists(args.dst) and not args.force:
        parser.error(f'{args.dst} exists; pass --force to overwrite it')
    ckpt = load_local_checkpoint(args.src, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    converted, renamed = convert_mmseg_pointrend(state)
    for old, new in renamed:
        print(f'{old:45s} -> {new}')
    out = dict(state_dict=converted, meta=dict(converted_from=args.src))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save(out, tmp)
    os.replace(tmp, args.dst)  # never leave a half-written output behind
    print(f'{len(renamed)} keys renamed, {len(converted)} saved to {args.dst}')


if __name__ == '__main__':
    main()
