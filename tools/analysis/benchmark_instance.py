"""Instance PointRend benchmarks, measured in one run.

1. Mask refinement + pasting for 100 detections on an 800x1216 image (K=80),
   mmdet 3.3 ``PointRendRoIHead.predict_mask`` vs
   :class:`PointRendMaskRoIHead` with identical (converted) weights and
   boxes. Each implementation runs in a fresh process; medians over repeats,
   peak RSS growth (CPU) or ``max_memory_allocated`` (GPU).
2. Cost of the mask branch vs output resolution M in (28, 56, ..., 448):
   point-head predictions and time per RoI batch, against a dense M x M
   evaluation (table + PNG plot).
3. Multiply-adds and activations per RoI of the PointRend mask head at 224
   vs the standard 4x conv head at 28 and at 224 (paper Table 2), counted
   with :func:`tools.analysis.get_flops.count_mask_head_cost`.

Results are written between markers into ``docs/benchmarks.md``.

Example:
    python tools/analysis/benchmark_instance.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import time

from mmpointrend.analysis.cases import (
    IMG_H,
    IMG_W,
    NUM_DETS,
    OURS,
    build_roi_head,
    inputs,
    paired_heads,
)
from mmpointrend.analysis.measure import (
    machine,
    measure_calls,
    replace_block,
    run_in_process,
    spread,
    verdict,
)
from mmpointrend.checkpoint.io import save_figure

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Targets of issue #12 (speed) and #3 (memory) for part 1.
SPEED_TARGET, MEMORY_TARGET = 3.5, 0.25


def _refine_worker(
    impl: str, repeats: int, device: str, shape: tuple, queue
) -> None:
    import torch

    ref, ours = paired_heads(device)
    head = ref if impl == 'mmdet' else ours
    del ref, ours
    feats, res, meta = inputs(device, *shape)

    def run():
        with torch.no_grad():
            return head.predict_mask(feats, [meta], [res.clone()])

    # numpy travels through the queue by value (tensors would share an fd
    # that closes with this process).
    result = measure_calls(
        run, repeats, device, lambda out: out[0].masks.cpu().numpy()
    )
    result['masks'] = result.pop('first')
    queue.put(result)


def measure_refinement(
    impl: str,
    repeats: int,
    device: str,
    shape: tuple = (IMG_H, IMG_W, NUM_DETS),
) -> dict:
    """Refinement of one implementation, in a fresh process.

    ``shape`` is ``(height, width, detections)``.
    """
    return run_in_process(_refine_worker, impl, repeats, device, shape)


def resolution_sweep(
    repeats: int, device: str, shape: tuple = (IMG_H, IMG_W, NUM_DETS)
) -> list[dict]:
    """Point predictions and time of the mask branch per output size."""
    import torch
    from mmdet.structures.bbox import bbox2roi

    head = build_roi_head(OURS, device)
    feats, res, _ = inputs(device, *shape)
    rois = bbox2roi([res.bboxes])
    rows = []
    for steps, size in enumerate((28, 56, 112, 224, 448), start=2):
        head.test_cfg.subdivision_steps = steps
        predictions = head.subdivision_settings().plan((7, 7)).predictions
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            with torch.no_grad():
                _, refined = head.refine_masks(feats, rois, res.labels)
            if device == 'cuda':
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        assert refined.shape[-1] == size
        rows.append(
            dict(
                size=size,
                steps=steps,
                points=predictions,
                dense=size * size,
                ms=statistics.median(times[1:]) * 1000,
            )
        )
    return rows


def plot_sweep(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    sizes = [r['size'] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(sizes, [r['points'] for r in rows], 'o-', label='PointRend')
    ax1.plot(sizes, [r['dense'] for r in rows], 's--', label='dense M x M')
    ax1.set_xscale('log', base=2)
    ax1.set_yscale('log')
    ax1.set_xlabel('output side M')
    ax1.set_ylabel('point-head predictions per RoI')
    ax1.legend()
    ax1.set_title('Predictions grow ~ N log2(M / 7), not M^2')
    ax2.plot(sizes, [r['ms'] for r in rows], 'o-')
    ax2.set_xscale('log', base=2)
    ax2.set_xlabel('output side M')
    ax2.set_ylabel(f'ms for {NUM_DETS} RoIs (median)')
    ax2.set_title('Mask-branch time vs output size')
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--parts', default='123')
    parser.add_argument(
        '--small',
        action='store_true',
        help='200x304 with 10 detections: a quick check that it runs',
    )
    parser.add_argument(
        '--runs',
        type=int,
        default=3,
        help='consecutive runs of part 1, each with fresh processes',
    )
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count())
    cmd = (
        f'`python tools/analysis/benchmark_instance.py --repeats '
        f'{args.repeats} --runs {args.runs} --device {args.device}`'
    )
    head = f'Machine: {machine()}; device {args.device}; command: {cmd}.\n\n'
    shape = (200, 304, 10) if args.small else (IMG_H, IMG_W, NUM_DETS)
    if '1' in args.parts:
        print(
            f'[1] refinement of {shape[2]} detections, {shape[0]}x{shape[1]}'
            ', K=80',
            flush=True,
        )
        lines, met = [], []
        for run in range(1, args.runs + 1):
            ref = measure_refinement('mmdet', args.repeats, args.device, shape)
            ours = measure_refinement('ours', args.repeats, args.device, shape)
            agree = float((ref['masks'] == ours['masks']).mean())
            speed = ref['median'] / ours['median']
            mem = ours['peak_mib'] / max(ref['peak_mib'], 1e-9)
            met.append(speed >= SPEED_TARGET and mem <= MEMORY_TARGET)
            lines.append(
                f'| {run} | {spread(ref)} | {spread(ours)} | '
                f'**{speed:.2f}x** | {ref["peak_mib"]:.0f} | '
                f'{ours["peak_mib"]:.0f} | {mem:.3f} | {100 * agree:.4f}% |'
            )
            print(lines[-1], flush=True)
        body = head + (
            f'Three columns of seconds are min / median / max over '
            f'{args.repeats} calls; speed-up is the ratio of medians; each '
            'run measures both implementations, each in a fresh process.\n\n'
            '| run | mmdet 3.3 `predict_mask` (s) | mmpointrend '
            '`predict_mask` (s) | speed-up | mmdet peak (MiB) | ours peak '
            '(MiB) | memory ratio | identical mask pixels |\n'
            '|---|---|---|---|---|---|---|---|\n'
            + '\n'.join(lines)
            + f'\n\nTargets: speed-up >= {SPEED_TARGET}x and memory ratio '
            f'<= {MEMORY_TARGET} in every run: {verdict(met)}.\n'
        )
        print(body)
        replace_block(args.output, f'instance-refine {args.device}', body)
    if '2' in args.parts:
        print('[2] cost vs output resolution', flush=True)
        rows = resolution_sweep(args.repeats, args.device, shape)
        png = osp.join(
            osp.dirname(osp.abspath(args.output)),
            'images',
            'mask_cost_vs_resolution.png',
        )
        os.makedirs(osp.dirname(png), exist_ok=True)
        plot_sweep(rows, png)
        table = head + (
            '| output M | steps | point predictions / RoI | dense M^2 | '
            f'ms for {shape[2]} RoIs |\n|---|---|---|---|---|\n'
        )
        for r in rows:
            table += (
                f'| {r["size"]} | {r["steps"]} | {r["points"]} | '
                f'{r["dense"]} | {r["ms"]:.1f} |\n'
            )
        table += (
            '\n![cost vs resolution](images/mask_cost_vs_resolution.png)\n'
        )
        print(table)
        replace_block(args.output, f'instance-sweep {args.device}', table)
    if '3' in args.parts:
        print('[3] multiply-adds and activations per RoI', flush=True)
        from mmpointrend.analysis.cost import mask_head_cost_table

        table = mask_head_cost_table()
        print(table)
        replace_block(args.output, 'instance-flops', table)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
