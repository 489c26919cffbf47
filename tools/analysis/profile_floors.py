"""Where the PointRend inference paths spend their time, beside the floors.

For instance refinement (100 detections, 800x1216, K = 80) and the semantic
point head (1024x2048, K = 19, N = 8192, 2 steps), each part's time is
measured with ``torch.profiler`` labels put around the real functions, and
set beside its floor on this machine: the point MLP's required
multiply-adds at the GEMM rate measured here, and the bytes the other parts
must read and write at the copy bandwidth measured here. Writes the block
``floors cpu`` of docs/benchmarks.md.

Example:
    python tools/analysis/profile_floors.py --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from tools.analysis.common import machine, median_seconds  # noqa: E402


def machine_rates() -> tuple[float, float]:
    """Measured fp32 GEMM rate (multiply-adds/s) and copy bandwidth (B/s)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    gemm = 2048**3 / median_seconds(lambda: a @ b, 5)
    src = torch.randn(64 * 2**20)
    dst = torch.empty_like(src)
    copy = 2 * src.numel() * 4 / median_seconds(lambda: dst.copy_(src), 5)
    return gemm, copy


@contextlib.contextmanager
def labelled(patches: list[tuple[object, str, str]]):
    """Wrap ``owner.name`` in ``record_function(label)`` while active."""
    from torch.profiler import record_function

    saved = []
    for owner, name, label in patches:
        original = getattr(owner, name)

        def wrapper(*args, _f=original, _label=label, **kwargs):
            with record_function(_label):
                return _f(*args, **kwargs)

        saved.append((owner, name, original))
        setattr(owner, name, wrapper)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def profile(run, labels: list[str], repeats: int) -> dict[str, float]:
    """Seconds per call of each label, and of the whole call."""
    import time

    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    run()
    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            run()
    total = (time.perf_counter() - start) / repeats
    times = {label: 0.0 for label in labels}
    for event in prof.key_averages():
        if event.key in times:
            times[event.key] = event.cpu_time_total / 1e6 / repeats
    times['total'] = total
    return times


def instance_parts(repeats: int, gemm: float, bandwidth: float) -> list:
    import torch

    import mmpointrend.models.roi_heads.mask_heads.coarse_mask_head as cmh
    import mmpointrend.models.roi_heads.pointrend_roi_head as rh
    import mmpointrend.models.utils.subdivision as sub
    from mmpointrend.models.utils import PointMLP
    from tools.analysis.benchmark_instance import (
        IMG_H,
        IMG_W,
        NUM_DETS,
        OURS,
        build_roi_head,
        inputs,
    )

    head = build_roi_head(OURS, 'cpu')
    feats, res, meta = inputs('cpu')
    labels = [
        'coarse head', 'feature sampling', 'point MLP', 'uncertainty',
        'top-k', 'pasting',
    ]  # fmt: skip
    patches = [
        (head, '_mask_forward', 'coarse head'),
        (rh, 'sample_roi_points', 'feature sampling'),
        (PointMLP, 'forward', 'point MLP'),
        (rh, 'neg_abs_logit', 'uncertainty'),
        (sub, 'topk_cells', 'top-k'),
        (cmh, 'paste_masks_into_image', 'pasting'),
    ]

    def run():
        with torch.no_grad():
            return head.predict_mask(feats, [meta], [res.clone()])

    with labelled(patches):
        times = profile(run, labels, repeats)
    # floors
    cfg = head.subdivision_settings()
    points = NUM_DETS * 28 * 28 * (1 + cfg.steps - 2)  # 28x28 grid + 3 steps
    fc, k = 256, 80
    mlp_macs = points * (3 * (fc + k) * fc + (fc + k))
    boxes = res.bboxes
    area = float(
        ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum()
    )
    maps = NUM_DETS * sum((7 * 2**s) ** 2 for s in range(3, 6))  # 56..224
    coarse_macs = NUM_DETS * (
        256 * 256 * 4 * 49 + 12544 * 1024 + 1024 * 1024 + 1024 * k * 49
    )
    floors = {
        'coarse head': coarse_macs / gemm
        + NUM_DETS * 196 * 256 * 4 * 5 / bandwidth,
        'feature sampling': points * fc * 4 * 5 / bandwidth,
        'point MLP': mlp_macs / gemm,
        'uncertainty': maps * 4 * 2 / bandwidth,
        'top-k': maps * 4 / bandwidth,
        'pasting': area * 5 / bandwidth,
    }
    rest = times['total'] - sum(times[label] for label in labels)
    rows = [(label, times[label], floors[label]) for label in labels]
    rows.append(
        ('upsampling + scatter (rest)', rest, maps * 4 * 3 / bandwidth)
    )
    rows.append(('total', times['total'], sum(f for _, _, f in rows)))
    assert IMG_H and IMG_W
    return rows


def semantic_parts(repeats: int, gemm: float, bandwidth: float) -> list:
    import torch

    import mmpointrend.models.decode_heads.pointrend_sem_seg_head as sh
    import mmpointrend.models.utils.subdivision as sub
    from mmpointrend.models.utils import PointMLP
    from tools.analysis.common import semantic_render_case

    head, fine, coarse, cfg = semantic_render_case()
    labels = ['feature sampling', 'point MLP', 'uncertainty', 'top-k']
    patches = [
        (sh, 'point_sample', 'feature sampling'),
        (PointMLP, 'forward', 'point MLP'),
        (sh, 'semantic_uncertainty', 'uncertainty'),
        (sub, 'topk_cells', 'top-k'),
    ]

    def run():
        with torch.no_grad():
            return head(fine, coarse, cfg)

    with labelled(patches):
        times = profile(run, labels, repeats)
    points, k, fc = 2 * 8192, 19, 256
    mlp_macs = points * (3 * (fc + k) * fc + (fc + k) * k)
    maps = 19 * (512 * 1024 + 1024 * 2048)  # the two upsampled maps
    floors = {
        # P2 features and coarse logits: 4 corners read, 1 value written
        'feature sampling': points * (fc + k) * 4 * 5 / bandwidth,
        'point MLP': mlp_macs / gemm,
        'uncertainty': (maps * 4 + maps // 19 * 4) / bandwidth,
        'top-k': maps // 19 * 4 / bandwidth,
    }
    rest = times['total'] - sum(times[label] for label in labels)
    rows = [(label, times[label], floors[label]) for label in labels]
    rows.append(('upsampling + scatter (rest)', rest, maps * 4 / bandwidth))
    rows.append(('total', times['total'], sum(f for _, _, f in rows)))
    return rows


def table(rows: list) -> str:
    lines = [
        '| part | measured (ms) | floor (ms) | measured / floor |',
        '|---|---|---|---|',
    ]
    for name, measured, floor in rows:
        ratio = measured / floor if floor > 0 else float('inf')
        lines.append(
            f'| {name} | {measured * 1e3:.1f} | {floor * 1e3:.1f} | '
            f'{ratio:.1f}x |'
        )
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    from tools.analysis.common import replace_block

    gemm, bandwidth = machine_rates()
    print(
        f'GEMM {gemm / 1e9:.1f} G multiply-adds/s, copy '
        f'{bandwidth / 1e9:.1f} GB/s',
        flush=True,
    )
    ins = instance_parts(args.repeats, gemm, bandwidth)
    sem = semantic_parts(args.repeats, gemm, bandwidth)
    body = (
        f'Machine: {machine()}; fp32 GEMM {gemm / 1e9:.1f} G '
        f'multiply-adds/s and copy bandwidth {bandwidth / 1e9:.1f} GB/s, '
        f'measured in the same run; {args.repeats} profiled calls; command: '
        f'`python tools/analysis/profile_floors.py --repeats '
        f'{args.repeats}`.\n\n'
        '**Instance refinement** (`PointRendMaskRoIHead.predict_mask`, 100 '
        'detections, 800x1216, K = 80, pasting included):\n\n'
        + table(ins)
        + '\n**Semantic point head** (`PointRendSemSegHead.forward`, '
        '1024x2048, K = 19, N = 8192, 2 steps):\n\n' + table(sem)
    )
    print(body)
    replace_block(args.output, 'floors cpu', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
