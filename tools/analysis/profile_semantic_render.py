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
import os.path as osp

import torch
from torch.profiler import ProfilerActivity, profile

from mmpointrend.analysis.cases import semantic_render_case

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--rows', type=int, default=12)
    args = parser.parse_args()
    head, fine, coarse, cfg = semantic_render_case()
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
