"""Where semantic subdivision spends its time, op by op, at 1024x2048.

Profiles the real renderer (``PointRendSemSegHead.forward``: two steps from
stride 4, K=19, N=8192, one 256-channel P2 level) with ``torch.profiler``
and prints the operators by self CPU time, so the table follows the code
whatever the renderer becomes.

Example:
    python tools/analysis/profile_semantic_render.py --repeats 5
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from mmpointrend.models import PointRendSemSegHead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--rows', type=int, default=12)
    args = parser.parse_args()
    torch.manual_seed(0)
    head = PointRendSemSegHead(
        in_channels=[256], in_index=[0], channels=256, num_classes=19
    ).eval()
    # Smooth coarse logits, as a trained coarse head gives.
    coarse = F.interpolate(
        torch.randn(1, 19, 16, 32) * 4, size=(256, 512), mode='bilinear'
    )
    fine = [torch.randn(1, 256, 256, 512)]
    cfg = dict(subdivision_steps=2, subdivision_num_points=8192)
    with torch.no_grad():
        head(fine, coarse, cfg)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.repeats):
                head(fine, coarse, cfg)
    print(
        f'threads: {torch.get_num_threads()}, {args.repeats} renders; '
        'times are totals over all renders'
    )
    print(
        prof.key_averages().table(
            sort_by='self_cpu_time_total', row_limit=args.rows
        )
    )


if __name__ == '__main__':
    main()
