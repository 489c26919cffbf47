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
import os

import torch
from mmengine.config import DictAction

from mmpointrend.apis import init_model
from mmpointrend.apis.folder_inference import (
    IMAGE_SUFFIXES,
    ShardReport,
    check_out_dir,
    infer_shard,
    list_images,
    write_summary,
)
from mmpointrend.checkpoint.cli import add_trust_argument
from mmpointrend.engine.runner_setup import (
    die_with_parent,
    finish_distributed,
    run_cli,
)
from mmpointrend.utils.compat import init_cpu_distributed


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
    rank, world = 0, 1
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if args.launcher == 'pytorch':
        die_with_parent()
        if not init_cpu_distributed():
            local = int(os.environ.get('LOCAL_RANK', 0))
            torch.cuda.set_device(local)
            torch.distributed.init_process_group('nccl')
            device = f'cuda:{local}'
        rank = torch.distributed.get_rank()
        world = torch.distributed.get_world_size()
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
    print(
        f'[rank {rank}] {report.written} written, {report.skipped} already '
        f'done, {len(report.failed)} failed, '
        f'{report.images_per_second:.2f} images/s',
        flush=True,
    )
    reports: list[ShardReport | None] = [report]
    if world > 1:
        reports = [None] * world
        torch.distributed.all_gather_object(reports, report)
    if rank == 0:
        summary = write_summary(args.out_dir, reports, len(images))
        where = os.path.join(args.out_dir, 'summary.json')
        print(
            f'{summary["written"]} written, {summary["skipped"]} already '
            f'done, {len(summary["failed"])} failed of {len(images)} images '
            f'in {summary["seconds"]:.1f} s ({summary["images_per_second"]} '
            f'images/s); summary: {where}',
            flush=True,
        )
        for rel, why in summary['failed'].items():
            print(f'failed: {rel}: {why}', flush=True)
    failed = sum(len(r.failed) for r in reports)
    finish_distributed()
    if failed:
        raise SystemExit(1)


if __name__ == '__main__':
    run_cli(main)
