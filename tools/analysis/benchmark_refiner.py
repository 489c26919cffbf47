"""Time per object and peak memory of the mask refiner at 1024x2048.

``refine_masks(model, image, masks)`` end to end (test pipeline, features
of the whole image, 28x28 coarse grid per object, three x2 subdivision
steps to 224x224, paste back at full size) on a 1024x2048 image (the
test pipeline's resize set to that size) with N
ellipse masks of 40-400 px given as full-size bool arrays, each
(model, N) in a fresh process. Time per object is the marginal cost
``(t(N) - t(1)) / (N - 1)``: what one more object adds once the image's
features exist. Weights are random (the cost does not depend on them).
Medians over ``--repeats`` calls after one warm-up; peak memory is the
worker's resident-set growth (CPU) or ``max_memory_allocated`` (GPU).
Writes the block ``refiner <device>`` of docs/benchmarks.md.

Example:
    python tools/analysis/benchmark_refiner.py --repeats 3 --objects 1 10 50
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
MODELS = {
    'CPU refiner (ResNet-18 half width)': (
        'configs/refiner/pointrend-refiner_r18-slim_fpn_2xb2-400_synthetic.py'
    ),
    'ResNet-50 refiner': (
        'configs/refiner/pointrend-refiner_r50_fpn_8xb2-1x_coco.py'
    ),
}


def scene(height: int, width: int, num: int, seed: int = 0):
    """A textured image and ``num`` ellipse masks, both full size.

    Returns:
        tuple: (H, W, 3) uint8 BGR image and (N, H, W) bool masks.
    """
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    masks = np.zeros((num, height, width), np.uint8)
    scale = min(height, width) / 1024
    for i in range(num):
        axes = tuple(int(a) for a in rng.uniform(20, 200, 2) * scale)
        centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(masks[i], centre, axes, angle, 0, 360, 1, -1)
        color = tuple(int(c) for c in rng.integers(80, 255, 3))
        cv2.ellipse(image, centre, axes, angle, 0, 360, color, -1)
    return image, masks.astype(bool)


def _worker(config: str, num: int, size, repeats: int, device: str, q):
    import torch

    from mmpointrend.apis import build_model, refine_masks, resolve_config

    torch.manual_seed(0)
    overrides = {'model.backbone.init_cfg': None}
    model, cfg = build_model(resolve_config(config, ROOT), overrides)
    model.init_weights()
    model = model.to(device).eval()
    # the image is refined at its own size (the configs' test pipelines
    # would shrink it to 512 or 1333 px)
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize':
            step['scale'] = (size[1], size[0])
    model.cfg = cfg
    image, masks = scene(*size, num)

    def run():
        return refine_masks(model, image, masks)

    result = measure_calls(run, repeats, device, lambda out: out.shape)
    result['check'] = tuple(result.pop('first'))
    q.put(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--objects', type=int, nargs='+', default=[1, 10, 50])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument(
        '--small',
        action='store_true',
        help='256x512 and the CPU model only: a quick check that it runs',
    )
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    if 1 not in args.objects or len(args.objects) < 2:
        parser.error('--objects needs 1 (the fixed cost) and a larger count')
    size = (256, 512) if args.small else (1024, 2048)
    models = dict(list(MODELS.items())[:1]) if args.small else MODELS
    lines = [
        '| model | objects | min / median / max (s) | per object (s) | '
        'peak (MiB) |',
        '|---|---|---|---|---|',
    ]
    for name, config in models.items():
        runs = {}
        for num in sorted(args.objects):
            print(f'{name}, {num} objects', flush=True)
            runs[num] = run_in_process(
                _worker, config, num, size, args.repeats, args.device
            )
            r = runs[num]
            assert r['check'] == (num, *size), r['check']
            print(
                f'    {r["median"]:.3f} s, +{r["peak_mib"]:.0f} MiB',
                flush=True,
            )
        fixed = runs[1]['median']
        for num, r in runs.items():
            per = (
                '(fixed cost)'
                if num == 1
                else f'{(r["median"] - fixed) / (num - 1):.3f}'
            )
            lines.append(
                f'| {name} | {num} | {spread(r)} | {per} | '
                f'{r["peak_mib"]:.0f} |'
            )
    objects = ' '.join(map(str, sorted(args.objects)))
    body = (
        f'Machine: {machine()}; device {args.device}; image '
        f'{size[0]}x{size[1]}; {args.repeats} calls after 1 warm-up, each '
        'row in a fresh process; command: `python '
        f'tools/analysis/benchmark_refiner.py --repeats {args.repeats} '
        f'--objects {objects} --device {args.device}'
        + (' --small' if args.small else '')
        + '`. Per object: (t(N) - t(1)) / (N - 1).\n\n'
        + '\n'.join(lines)
        + '\n'
    )
    print(body)
    replace_block(args.output, f'refiner {args.device}', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
