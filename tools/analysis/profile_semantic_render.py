"""Op-by-op cost of semantic subdivision at 1024x2048 (K=19, N=8192).

Times each operation of the two refinement steps (stride 4 -> 2 -> 1) in
isolation, median of ``--repeats`` runs, to show where point-head inference
spends its time and which parts mmpointrend removes compared with mmseg
(``topk(k=2)`` uncertainty, ``clone`` of the coarse logits, the same-size
final resize).

Example:
    python tools/analysis/profile_semantic_render.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from mmpointrend.models import PointMLP
from mmpointrend.models.utils import (
    cell_centers,
    point_sample,
    semantic_uncertainty,
    topk_cells,
)


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    coarse = F.interpolate(
        torch.randn(1, 19, 16, 32) * 4, size=(256, 512), mode='bilinear'
    )
    fine = torch.randn(1, 256, 256, 512)
    up1 = F.interpolate(coarse, scale_factor=2, mode='bilinear')
    up2 = F.interpolate(up1, scale_factor=2, mode='bilinear')
    scores = semantic_uncertainty(up2).view(1, -1)
    idx = topk_cells(scores, 8192)
    points = cell_centers(idx, 1024, 2048)
    mlp = PointMLP(256, 19, 19).eval()
    point_logits = torch.randn(1, 19, 8192)
    r = args.repeats
    rows = [
        (
            'upsample x2, 256x512 -> 512x1024',
            lambda: F.interpolate(coarse, scale_factor=2, mode='bilinear'),
        ),
        (
            'upsample x2, 512x1024 -> 1024x2048',
            lambda: F.interpolate(up1, scale_factor=2, mode='bilinear'),
        ),
        ('top-2 gap, running max (ours)', lambda: semantic_uncertainty(up2)),
        ('top-2 gap, topk(k=2) (mmseg)', lambda: up2.topk(2, dim=1)),
        ('top-N of 2M cells', lambda: topk_cells(scores, 8192)),
        ('P2 features at 8192 points', lambda: point_sample(fine, points)),
        (
            'coarse logits at 8192 points',
            lambda: point_sample(coarse, points),
        ),
        (
            'point MLP, 8192 points',
            lambda: mlp(
                point_sample(fine, points), point_sample(coarse, points)
            ),
        ),
        (
            'scatter 8192 cells (incl. clone)',
            lambda: (
                up2.clone()
                .view(1, 19, -1)
                .scatter_(2, idx[:, None].expand(-1, 19, -1), point_logits)
            ),
        ),
        ('clone of the 1024x2048 map (mmseg)', lambda: up2.clone()),
    ]
    print(f'threads: {torch.get_num_threads()}, median of {r} runs')
    print('| operation | ms |\n|---|---|')
    with torch.no_grad():
        for name, fn in rows:
            print(f'| {name} | {median_ms(fn, r):.1f} |')


if __name__ == '__main__':
    main()
