"""What Implicit PointRend's parameter head costs, beside PointRend's.

For the COCO mask branches (K = 80) of PointRend, Implicit PointRend
(class-specific) and Implicit PointRend (class-agnostic): parameters of the
mask branch, their fp32 size (what a checkpoint adds), predicted
parameters per RoI, and the time and peak memory of refining 100
detections at 800x1216 (``refine_masks``, each variant in a fresh process,
median of ``--repeats`` calls). Writes the block ``implicit-cost cpu`` of
docs/implicit_pointrend.md.

Example:
    python tools/analysis/implicit_cost.py --repeats 3
"""

from __future__ import annotations

import argparse
import os.path as osp

from mmpointrend.analysis.measure import (
    machine,
    measure_calls,
    replace_block,
    run_in_process,
    spread,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

VARIANTS = {
    'PointRend': (
        'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
    ),
    'Implicit PointRend': (
        'configs/implicit_pointrend/'
        'implicit-pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
    ),
    'Implicit PointRend, class-agnostic': (
        'configs/implicit_pointrend/'
        'implicit-pointrend-agnostic_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
    ),
}


def _worker(name: str, repeats: int, small: bool, queue) -> None:
    import torch
    from mmdet.structures.bbox import bbox2roi

    from mmpointrend.analysis.cases import build_roi_head, inputs

    head = build_roi_head(VARIANTS[name], 'cpu')
    branch = [
        head.mask_head,
        head.point_head,
    ]
    params = sum(p.numel() for m in branch for p in m.parameters())
    per_roi = getattr(head.point_head, 'num_params', 0)
    shape = (200, 304, 10) if small else (800, 1216, 100)
    feats, res, _ = inputs('cpu', *shape)
    rois = bbox2roi([res.bboxes])

    def run():
        with torch.no_grad():
            return head.refine_masks(feats, rois, res.labels)[1]

    result = measure_calls(run, repeats, 'cpu')
    result.update(params=params, per_roi=per_roi, rois=shape[2])
    queue.put(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument(
        '--small',
        action='store_true',
        help='200x304 with 10 detections: a quick check that it runs',
    )
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'implicit_pointrend.md')
    )
    args = parser.parse_args()
    rows = []
    for name in VARIANTS:
        print(f'[{name}]', flush=True)
        r = run_in_process(_worker, name, args.repeats, args.small)
        print(f'    {r["median"]:.3f} s, +{r["peak_mib"]:.0f} MiB', flush=True)
        per_roi = f'{r["per_roi"]:,}' if r['per_roi'] else '-'
        rows.append(
            f'| {name} | {r["params"] / 1e6:.1f} M | '
            f'{r["params"] * 4 / 2**20:.0f} MiB | {per_roi} | {spread(r)} | '
            f'{r["peak_mib"]:.0f} |'
        )
    body = (
        f'Machine: {machine()}; {args.repeats} calls after 1 warm-up, each '
        'variant in a fresh process; command: `python '
        f'tools/analysis/implicit_cost.py --repeats {args.repeats}'
        + (' --small' if args.small else '')
        + '`.\n\n'
        '| mask branch (COCO, K = 80) | parameters | fp32 size | predicted '
        'parameters per RoI | `refine_masks`, '
        f'{r["rois"]} detections, min / median / max (s) | peak memory '
        '(MiB) |\n|---|---|---|---|---|---|\n' + '\n'.join(rows) + '\n'
    )
    print(body)
    replace_block(args.output, 'implicit-cost cpu', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
