"""Convert a detectron2 PointRend R-CNN model-zoo pickle to mmpointrend.

The result loads into ``configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_*``
(R50) or ``pointrend_mask-rcnn_r101-caffe_*`` (R101).

Example:
    python tools/model_converters/detectron2_to_mmpointrend.py \
        model_final_edd263.pkl pointrend_r50_fpn_3x_coco_d2.pth
"""

import argparse
import os.path as osp
import pickle
import sys

from mmpointrend.converters import convert_detectron2_pointrend
from mmpointrend.utils.ckpt_io import save_converted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='detectron2 checkpoint (.pkl)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--force', action='store_true', help='overwrite dst')
    args = parser.parse_args()
    if not osp.isfile(args.src):
        sys.exit(f'error: {args.src} does not exist')
    with open(args.src, 'rb') as f:
        data = pickle.load(f, encoding='latin1')
    weights = data.get('model', data)
    converted, skipped = convert_detectron2_pointrend(weights)
    print(f'{len(converted)} tensors converted; skipped {skipped}')
    try:
        save_converted(converted, args.dst, args.src, args.force)
    except (ValueError, FileExistsError) as exc:
        sys.exit(f'error: {exc}')
    print(f'saved {args.dst}')


if __name__ == '__main__':
    main()
