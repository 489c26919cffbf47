"""Write the COCO-fied LVIS annotations used for the paper's AP*.

Example (LVIS v0.5 val; images are COCO 2017 images):
    python tools/dataset_converters/lvis_cocofied.py \
        data/lvis/lvis_v0.5_val.json data/lvis/lvis_v0.5_val_cocofied.json
"""

import argparse
import json
import os
import os.path as osp
import sys

from mmdet.datasets import CocoDataset

from mmpointrend.datasets.lvis_cocofied import cocofy_lvis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='LVIS annotation json')
    parser.add_argument('dst', help='output json')
    parser.add_argument('--force', action='store_true', help='overwrite dst')
    args = parser.parse_args()
    if not osp.isfile(args.src):
        sys.exit(f'error: {args.src} does not exist')
    if osp.exists(args.dst) and not args.force:
        sys.exit(f'error: {args.dst} exists; pass --force to overwrite it')
    with open(args.src) as f:
        lvis = json.load(f)
    out = cocofy_lvis(lvis, CocoDataset.METAINFO['classes'])
    tmp = args.dst + '.tmp'
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    with open(tmp, 'w') as f:
        json.dump(out, f)
    os.replace(tmp, args.dst)
    print(
        f'kept {len(out["annotations"])} of {len(lvis["annotations"])} '
        f'annotations on {len(out["images"])} images -> {args.dst}'
    )


if __name__ == '__main__':
    main()
