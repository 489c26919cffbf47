"""What one training step costs, and how the recipes should scale (on paper).

For the Cityscapes (SemanticFPN + PointRend R50, 512x1024 crops) and COCO
(Mask R-CNN + PointRend R50, 800x1216) recipes this counts, on this
project's configs:

* parameters and the gradient bytes one data-parallel step all-reduces
  (fp32: 4 bytes per parameter; a ring all-reduce sends and receives
  ``2 (N - 1) / N`` times that per device);
* forward multiply-adds per image of the dense part (backbone, neck and
  the first-stage head, counted by MMEngine's analyzer), and ~3x that per
  training image (backward costs about twice the forward).

It then models the step time on N devices as compute + the all-reduce
that backward does not hide, for two links (intra-node NVLink-class and
inter-node 100 Gb/s), with the compute per step taken from a published
per-GPU training speed (cited in docs/scaling.md) where one exists. These
are estimates, not measurements; the table says which inputs are
assumptions. Writes the block ``scaling-estimate`` of docs/scaling.md.

Example:
    python tools/analysis/scaling_estimate.py
"""

from __future__ import annotations

import argparse
import os.path as osp

from mmpointrend.analysis.measure import replace_block

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

RECIPES = {
    'Cityscapes SemanticFPN+PointRend R50': dict(
        config='configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py',
        shape=(512, 1024),
        images_per_gpu=2,
        # No training speed is published for this recipe (mmseg lists
        # memory and inference fps only): assume 35% of a V100's 15.7 fp32
        # TFLOPs (7.85 T multiply-adds/s) on the counted multiply-adds.
        step_seconds=None,
    ),
    'COCO Mask R-CNN+PointRend R50': dict(
        config='configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py',
        shape=(800, 1216),
        images_per_gpu=2,
        # detectron2 MODEL_ZOO.md, Mask R-CNN R50-FPN 1x (the same network
        # without the point head): 0.261 s/iter, 2 images per V100.
        step_seconds=0.261,
    ),
}
#: Assumed sustained fp32 rate where no speed is published (multiply-adds/s).
ASSUMED_MACS_PER_S = 0.35 * 15.7e12 / 2
#: Assumed all-reduce bus bandwidths (bytes/s): NVLink within a node,
#: 100 Gb/s InfiniBand/RoCE between nodes.
LINKS = {
    'intra-node (NVLink, 100 GB/s)': 100e9,
    'inter-node (100 Gb/s)': 12.5e9,
}
GPUS_PER_NODE = 8


def count(config: str, shape: tuple[int, int]) -> tuple[int, int]:
    """Parameters and dense forward multiply-adds per image."""
    import torch
    from mmengine.analysis import FlopAnalyzer

    from mmpointrend.apis import build_model, resolve_config

    model, _ = build_model(resolve_config(config, ROOT))
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    image = torch.randn(1, 3, *shape)
    with torch.no_grad():
        macs = FlopAnalyzer(model.backbone, image)
        macs.unsupported_ops_warnings(False)
        total = macs.total()
        feats = model.backbone(image)
        neck = FlopAnalyzer(model.neck, (feats,))
        neck.unsupported_ops_warnings(False)
        total += neck.total()
        feats = model.neck(feats)
        first = model.decode_head[0] if hasattr(model, 'decode_head') else None
        if first is not None:
            head = FlopAnalyzer(first, (list(feats),))
        else:
            head = FlopAnalyzer(model.rpn_head, (feats,))
        head.unsupported_ops_warnings(False)
        head.uncalled_modules_warnings(False)
        total += head.total()
    return params, int(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--small',
        action='store_true',
        help='count multiply-adds on a quarter of each side (a quick check)',
    )
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'scaling.md')
    )
    args = parser.parse_args()
    div = 4 if args.small else 1
    counts = []
    scaling = []
    sizes = (1, 8, 16, 32, 64)
    for name, r in RECIPES.items():
        print(f'counting {name}', flush=True)
        shape = tuple(side // div for side in r['shape'])
        params, macs = count(r['config'], shape)
        grad_bytes = 4 * params
        train_macs = 3 * macs * r['images_per_gpu']
        if r['step_seconds'] is None:
            step = train_macs / ASSUMED_MACS_PER_S
            source = 'assumed rate'
        else:
            step = r['step_seconds']
            source = 'published'
        counts.append(
            f'| {name} | {params / 1e6:.1f} M | {grad_bytes / 2**20:.0f} '
            f'MiB | {macs / 1e9:.0f} G | {train_macs / 1e9:.0f} G | '
            f'{step:.3f} s ({source}) |'
        )
        row = [name]
        for n in sizes:
            if n == 1:
                row.append('1.00')
                continue
            link = (
                LINKS['intra-node (NVLink, 100 GB/s)']
                if n <= GPUS_PER_NODE
                else LINKS['inter-node (100 Gb/s)']
            )
            comm = 2 * (n - 1) / n * grad_bytes / link
            # Backward is ~2/3 of the step; DDP overlaps the all-reduce of
            # finished buckets with the rest of backward.
            hidden = 2 / 3 * step
            worst = step / (step + comm)
            best = step / (step + max(0.0, comm - hidden))
            row.append(f'{best:.2f} / {worst:.2f}')
        scaling.append('| ' + ' | '.join(row) + ' |')
    body = (
        'Command: `python tools/analysis/scaling_estimate.py` (counts from '
        "this project's configs; step times and links as stated).\n\n"
        '| recipe | parameters | gradient bytes per step (fp32) | forward '
        'multiply-adds per image (backbone+neck+first head) | training '
        'multiply-adds per device step | compute per step |\n'
        '|---|---|---|---|---|---|\n'
        + '\n'.join(counts)
        + '\n\nScaling efficiency (throughput per device relative to one '
        'device; overlapped / not overlapped with backward):\n\n'
        '| recipe | '
        + ' | '.join(f'{n} GPU{"s" if n > 1 else ""}' for n in sizes)
        + ' |\n|---|'
        + '---|' * len(sizes)
        + '\n'
        + '\n'.join(scaling)
        + '\n'
    )
    print(body)
    replace_block(args.output, 'scaling-estimate', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
