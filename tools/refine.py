"""Refine the masks of a folder of images; shardable and resumable.

For every image of IMAGES the masks are read from MASKS: ``<image>.json``
(``tools/infer.py``'s instance files: COCO RLE masks with boxes, scores and
labels) or ``<image>.png`` / ``<stem>.png`` (an instance-id map: 0
background, one value per object, as SAM or YOLO exports are often saved).
Each image's refined masks are written to ``OUT_DIR`` in the format they
came in, through a temporary file and a rename; images whose output exists
are skipped, so a killed job is finished by running the same command
again. A mask file of another size than its image is refused, naming both.

With ``--semantic`` the PNGs are label maps (one class per value,
``--ignore-index`` unlabelled), refined class by class and written back as
label maps of the same dtype.

MASKS may also be one COCO results JSON (a list of detections with RLE
``segmentation``, as mmdet's ``CocoMetric(format_only=True)`` writes) with
``--ann-file`` naming the images; then each image's refined results go to
``OUT_DIR/parts/<image>.json`` and, once every image is done, all of them
to ``OUT_DIR/refined_results.json`` in the same COCO results format.

Examples:
    python tools/refine.py images/ preds/ --config CONFIG \
        --checkpoint refiner.pth --out-dir refined/
    bash tools/dist_launch.sh tools/refine.py 2 2 images/ preds/ \
        --config CONFIG --checkpoint refiner.pth --out-dir refined/
"""

import argparse
import json
import os.path as osp

from mmengine.config import DictAction

from mmpointrend.apis import init_model, refine_label_map, refine_masks
from mmpointrend.apis.folder_inference import (
    IMAGE_SUFFIXES,
    check_out_dir,
    finish_shard_job,
    list_images,
    process_shard,
    start_shard_process,
)
from mmpointrend.apis.refine import (
    coco_results_masks,
    encode_refined,
    find_masks,
    load_coco_results,
    read_masks,
)
from mmpointrend.checkpoint.cli import add_trust_argument
from mmpointrend.checkpoint.io import write_text
from mmpointrend.engine.runner_setup import finish_distributed, run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('images', help='image folder, or a list of images')
    parser.add_argument(
        'masks', help='folder of mask files, or a COCO results JSON'
    )
    parser.add_argument(
        '--ann-file',
        help='with COCO results: the COCO annotation file of the images',
    )
    parser.add_argument(
        '--config', required=True, help='a refiner config (configs/refiner)'
    )
    parser.add_argument('--checkpoint', required=True, help='its weights')
    parser.add_argument(
        '--semantic',
        action='store_true',
        help='the PNGs are semantic label maps, not instance-id maps',
    )
    parser.add_argument(
        '--ignore-index',
        type=int,
        default=255,
        help='with --semantic: the unlabelled value (default 255)',
    )
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--device', default=None, help='cpu or cuda (default: cuda if any)'
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch'],
        default='none',
        help='pytorch: one shard per torchrun process',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.test_cfg.subdivision_steps=4',
    )
    add_trust_argument(parser)
    return parser.parse_args()


def main() -> None:
    import mmcv

    args = parse_args()
    rank, world, device = start_shard_process(args.launcher, args.device)
    coco = None
    if osp.isfile(args.masks) and args.masks.endswith('.json'):
        if not args.ann_file:
            raise ValueError(
                f'{args.masks} is one results file: give --ann-file, the '
                'COCO annotation file of its images (ids -> file names)'
            )
        coco = load_coco_results(args.masks, args.ann_file)
        # an image is found by its path relative to IMAGES or its name
        for name in list(coco):
            coco.setdefault(osp.basename(name), coco[name])
    elif not osp.isdir(args.masks):
        raise FileNotFoundError(
            f'MASKS {args.masks!r} is neither a folder of mask files nor a '
            'COCO results .json'
        )
    check_out_dir(args.out_dir)
    for given, name in ((args.images, 'IMAGES'), (args.masks, 'MASKS')):
        if osp.abspath(given) == osp.abspath(args.out_dir):
            raise ValueError(
                f'--out-dir is {name}; write the refined masks elsewhere '
                '(an input is never overwritten)'
            )
    root, images = list_images(args.images, exclude=args.out_dir)
    if not images:
        raise FileNotFoundError(
            f'no images ({", ".join(IMAGE_SUFFIXES)}) in {args.images!r}'
        )
    model = init_model(
        args.config,
        args.checkpoint,
        device=device,
        cfg_options=args.cfg_options,
    )
    sources = {}

    def destination(rel: str) -> str:
        if coco is not None:
            return osp.join(args.out_dir, 'parts', rel + '.json')
        if rel not in sources:
            try:
                sources[rel] = find_masks(args.masks, rel)
            except FileNotFoundError:
                sources[rel] = rel + '.json'  # fails in work(), recorded
        ext = '.json' if sources[rel].endswith('.json') else '.png'
        return osp.join(args.out_dir, rel + ext)

    def work(rel: str) -> bytes:
        image = mmcv.imread(osp.join(root, rel))
        if image is None:
            raise ValueError(f'{osp.join(root, rel)}: not a readable image')
        if coco is not None:
            found = coco.get(rel) or coco.get(osp.basename(rel))
            if found is None:
                raise FileNotFoundError(
                    f'{rel} is not an image of {args.ann_file}'
                )
            record, results = found
            expected = [record.get('height'), record.get('width')]
            if expected != list(image.shape[:2]):
                raise ValueError(
                    f'{rel} is {list(image.shape[:2])} (H, W) but '
                    f'{args.ann_file} says {expected}'
                )
            masks, source = coco_results_masks(results, image.shape[:2])
        else:
            path = find_masks(args.masks, rel)
            if args.semantic:
                return _refine_label_png(path, image)
            masks, source = read_masks(path, image.shape[:2])
        return encode_refined(refine_masks(model, image, masks), source)

    def _refine_label_png(path: str, image) -> bytes:
        import cv2

        labels = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if labels is None or labels.ndim != 2 or not path.endswith('.png'):
            raise ValueError(f'{path}: not a single-channel label PNG')
        if labels.shape != image.shape[:2]:
            raise ValueError(
                f'{path}: the label map is {list(labels.shape)} (H, W) but '
                f'the image is {list(image.shape[:2])}'
            )
        refined = refine_label_map(model, image, labels, args.ignore_index)
        ok, png = cv2.imencode('.png', refined)
        if not ok:
            raise RuntimeError('OpenCV could not encode the label map')
        return png.tobytes()

    report = process_shard(
        images, destination, work, rank, world, progress=rank == 0
    )
    summary, failed = finish_shard_job(
        args.out_dir, report, len(images), world
    )
    if summary is not None and coco is not None and not failed:
        merged = []
        for rel in images:
            with open(destination(rel)) as f:
                merged += json.load(f)['instances']
        out = osp.join(args.out_dir, 'refined_results.json')
        write_text(out, json.dumps(merged))
        print(f'{len(merged)} refined results: {out}', flush=True)
    finish_distributed()
    if failed:
        raise SystemExit(1)


if __name__ == '__main__':
    run_cli(main)
