"""Cost of Boundary IoU next to mask IoU, measured in one run.

Instance: 500 ground-truth/prediction mask pairs of 1024x2048 (random
ellipses of 20-400 pixels radius, predictions jittered). Mask IoU is what
COCO evaluation pays per pair: RLE encoding of both masks and
``pycocotools.mask.iou``; Boundary IoU adds the band of each mask
(:func:`mmpointrend.evaluation.rle_boundary`, computed inside the object's
box) and a second RLE IoU.

Semantic: one 1024x2048 image with 19 classes, mmseg's per-image IoU
statistics vs :func:`mmpointrend.evaluation.boundary_stats`.

Medians over ``--repeats``; the table goes into ``docs/benchmarks.md``.

Example:
    python tools/analysis/benchmark_boundary_metrics.py --repeats 3
"""

from __future__ import annotations

import argparse
import os.path as osp

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils

from mmpointrend.analysis.measure import machine, median_seconds, replace_block
from mmpointrend.evaluation import boundary_stats, rle_boundary

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

H, W = 1024, 2048


def ellipse(rng, jitter: float = 0.0, params=None):
    """A random filled ellipse (or a jittered copy of given parameters)."""
    if params is None:
        r = rng.uniform(20, 400)
        params = (
            rng.uniform(r, W - r),
            rng.uniform(min(r, H / 2), max(H - r, H / 2)),
            r,
            r * rng.uniform(0.4, 1.0),
            rng.uniform(0, 180),
        )
    cx, cy, a, b, angle = params
    if jitter:
        cx, cy = cx + rng.normal(0, jitter), cy + rng.normal(0, jitter)
        a, b = a * rng.uniform(0.95, 1.05), b * rng.uniform(0.95, 1.05)
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(
        mask, (int(cx), int(cy)), (int(a), int(b)), angle, 0, 360, 1, -1
    )
    return mask, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--num-masks', type=int, default=500)
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(args.num_masks):
        gt, params = ellipse(rng)
        pred, _ = ellipse(rng, jitter=4.0, params=params)
        pairs.append((gt, pred))

    def encode(mask):
        return mask_utils.encode(np.asfortranarray(mask))

    def mask_iou():
        for gt, pred in pairs:
            mask_utils.iou([encode(pred)], [encode(gt)], [0])

    def boundary_and_mask_iou():
        for gt, pred in pairs:
            g, p = encode(gt), encode(pred)
            mask_utils.iou([p], [g], [0])
            mask_utils.iou(
                [rle_boundary(p, 0.02)], [rle_boundary(g, 0.02)], [0]
            )

    t_mask = median_seconds(mask_iou, args.repeats)
    t_both = median_seconds(boundary_and_mask_iou, args.repeats)

    label = torch.from_numpy(rng.integers(0, 19, (H // 64, W // 64)))
    label = label.repeat_interleave(64, 0).repeat_interleave(64, 1)
    pred = torch.roll(label, shifts=(3, 5), dims=(0, 1))

    def seg_iou():
        from mmseg.evaluation.metrics import IoUMetric

        IoUMetric.intersect_and_union(pred, label, 19, 255)

    def seg_biou():
        boundary_stats(pred, label, 19, 255)

    t_seg = median_seconds(seg_iou, args.repeats)
    t_seg_b = median_seconds(seg_biou, args.repeats)
    body = (
        f'Machine: {machine()}; medians of {args.repeats} runs; command: '
        '`python tools/analysis/benchmark_boundary_metrics.py --repeats '
        f'{args.repeats}`.\n\n'
        '| workload | mask IoU (s) | + Boundary IoU (s) | factor |\n'
        '|---|---|---|---|\n'
        f'| {args.num_masks} instance mask pairs, 1024x2048 | {t_mask:.2f} | '
        f'{t_both:.2f} | {t_both / t_mask:.1f}x |\n'
        f'| semantic image 1024x2048, 19 classes | {t_seg:.3f} | '
        f'{t_seg + t_seg_b:.3f} | {(t_seg + t_seg_b) / t_seg:.1f}x |\n'
    )
    print(body)
    replace_block(args.output, 'boundary-metrics', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
