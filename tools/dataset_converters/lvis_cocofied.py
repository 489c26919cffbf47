"""Write the COCO-fied LVIS annotations used for the paper's AP*.

Example (LVIS v0.5 val; images are COCO 2017 images):
    python tools/dataset_converters/lvis_cocofied.py \
        data/lvis/lvis_v0.5_val.json data/lvis/lvis_v0.5_val_cocofied.json
"""

import json
import os.path as osp
import sys

from mmdet.datasets import CocoDataset

from mmpointrend.checkpoint.cli import src_dst_parser
from mmpointrend.checkpoint.io import check_output_path, write_atomically
from mmpointrend.dataset_makers.lvis_cocofied import cocofy_lvis


def main() -> None:
    args = src_dst_parser(__doc__.splitlines()[0]).parse_args()
    if not osp.isfile(args.src):
        sys.exit(f'error: {args.src} does not exist')
    try:
        check_output_path(args.dst, args.src, args.force)
    except (ValueError, FileExistsError) as exc:
        sys.exit(f'error: {exc}')
    with open(args.src) as f:
        lvis = json.load(f)
    out = cocofy_lvis(lvis, CocoDataset.METAINFO['classes'])
    write_atomically(args.dst, lambda f: f.write(json.dumps(out).encode()))
    print(
        f'kept {len(out["annotations"])} of {len(lvis["annotations"])} '
        f'annotations on {len(out["images"])} images -> {args.dst}'
    )


if __name__ == '__main__':
    main()
