"""Predict every image of a folder (or file list); shardable and resumable.

Writes ``OUT_DIR/<relative image path>.png`` (semantic label map) or
``.json`` (instances: boxes, scores, labels, COCO RLE masks) per image, each
through a temporary file and a rename, and ``OUT_DIR/summary.json``.
Images whose output exists are skipped, so a killed job is finished by
running the same command again.

Examples:
    python tools/infer.py MODEL images/ --out-dir preds
    bash tools/dist_infer.sh MODEL images/ 4 --out-dir preds

``MODEL`` is a zoo name (``python -m mmpointrend.hub list``) or a config
file; ``--checkpoint`` gives other weights.
"""

import argparse

from mmengine.config import DictAction

from mmpointrend.apis import init_model
from mmpointrend.apis.folder_inference import (
    IMAGE_SUFFIXES,
    check_out_dir,
    finish_shard_job,
    infer_shard,
    list_images,
    start_shard_process,
)
from mmpointrend.checkpoint.cli import add_trust_argument
from mmpointrend.engine.runner_setup import finish_distributed, run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('model', help='zoo model name or config file')
    parser.add_argument('input', help='image folder, or a list of images')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--checkpoint', help='weights (default: the zoo)')
    parser.add_argument(
        '--device', default=None, help='cpu or cuda (default: cuda if any)'
    )
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.0,
        help='detectors: leave out instances below this score',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch'],
        default='none',
        help='pytorch: one shard per torchrun process (tools/dist_infer.sh)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.test_cfg.rcnn.score_thr=0.3',
    )
    add_trust_argument(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    rank, world, device = start_shard_process(args.launcher, args.device)
    check_out_dir(args.out_dir)
    root, images = list_images(args.input, exclude=args.out_dir)
    if not images:
        raise FileNotFoundError(
            f'no images ({", ".join(IMAGE_SUFFIXES)}) in {args.input!r}'
        )
    model = init_model(
        args.model,
        args.checkpoint,
        device=device,
        cfg_options=args.cfg_options,
    )
    report = infer_shard(
        model,
        root,
        images,
        args.out_dir,
        rank=rank,
        world_size=world,
        score_thr=args.score_thr,
        progress=rank == 0,
    )
    _, failed = finish_shard_job(args.out_dir, report, len(images), world)
    finish_distributed()
    if failed:
        raise SystemExit(1)


if __name__ == '__main__':
    run_cli(main)
