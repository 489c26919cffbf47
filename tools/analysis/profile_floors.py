"""Where the PointRend inference paths spend their time, beside the floors.

For instance refinement (100 detections, 800x1216, K = 80) and the semantic
point head (1024x2048, K = 19, N = 8192, 2 steps), each part's time is
measured with ``torch.profiler`` from the library's named regions
(:mod:`mmpointrend.models.utils.profiling`), and set beside its floor on
this machine: the multiply-adds of the real modules (counted by
:func:`mmpointrend.analysis.cost.count_macs`) at the GEMM rate measured
here, and the bytes the other parts must read and write at the copy
bandwidth measured here. Writes the block
``floors cpu`` of docs/benchmarks.md.

Example:
    python tools/analysis/profile_floors.py --repeats 5
"""

from __future__ import annotations

import argparse
import os.path as osp
from typing import NamedTuple

import torch

from mmpointrend.analysis.cost import count_macs
from mmpointrend.analysis.measure import machine, median_seconds
from mmpointrend.models.utils.profiling import PREFIX

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class Rates(NamedTuple):
    """What this machine does per second, measured in the same run.

    Attributes:
        gemm (float): Multiply-adds/s of a 2048^3 fp32 GEMM (the floor of
            convolutions).
        mlp_gemm (float): Multiply-adds/s of the point MLP's own GEMM shape
            (8192 points x 256 -> 256, output preallocated).
        bandwidth (float): Copy bandwidth in bytes/s (read + write) between
            buffers already in memory.
        fresh (float): Bytes/s written into newly allocated memory (160 MB,
            the size of a 19-class 1024x2048 map): the pages are mapped and
            zeroed by the kernel on first touch, which costs more than the
            write itself. Every tensor of more than 32 MB is new memory
            (glibc returns such blocks to the kernel when they are freed).
    """

    gemm: float
    mlp_gemm: float
    bandwidth: float
    fresh: float


def machine_rates() -> Rates:
    """Measure the rates of :class:`Rates` on this machine."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    gemm = 2048**3 / median_seconds(lambda: a @ b, 5)
    x, w = torch.randn(8192, 256), torch.randn(256, 256)
    out = torch.empty(8192, 256)
    mlp_gemm = (
        8192 * 256 * 256 / median_seconds(lambda: torch.mm(x, w, out=out), 21)
    )
    src = torch.randn(64 * 2**20)
    dst = torch.empty_like(src)
    copy = 2 * src.numel() * 4 / median_seconds(lambda: dst.copy_(src), 5)
    size = 19 * 1024 * 2048
    fresh = size * 4 / median_seconds(lambda: torch.empty(size).fill_(1), 5)
    return Rates(gemm, mlp_gemm, copy, fresh)


class _CoarseHead(torch.nn.Module):
    """The coarse mask head of a RoI head on P2 and RoIs, for counting."""

    def __init__(self, head) -> None:
        super().__init__()
        self.head = head

    def forward(self, p2, rois):
        return self.head._mask_forward((p2,), rois)['mask_preds']


class _Refinement(_CoarseHead):
    """Coarse head and render of a RoI head (``refine_masks``)."""

    def forward(self, p2, rois, labels):
        return self.head.refine_masks((p2,), rois, labels)[1]


def _mlp_macs(mlp, points: int) -> int:
    """Multiply-adds of a point MLP over ``points`` points (counted)."""
    fine = torch.zeros(1, mlp.fine_channels, points)
    coarse = torch.zeros(1, mlp.coarse_channels, points)
    return count_macs(mlp, (fine, coarse))


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
        label = event.key.removeprefix(PREFIX)
        if label in times:
            times[label] += event.cpu_time_total / 1e6 / repeats
    times['total'] = total
    return times


def instance_parts(repeats: int, rates: Rates, div: int) -> list:
    import torch

    from mmpointrend.analysis.cases import (
        IMG_H,
        IMG_W,
        NUM_DETS,
        OURS,
        build_roi_head,
        inputs,
    )

    gemm, mlp_gemm, bandwidth = rates.gemm, rates.mlp_gemm, rates.bandwidth
    img_h, img_w = IMG_H // div, IMG_W // div
    num_dets = NUM_DETS // div**2
    head = build_roi_head(OURS, 'cpu')
    feats, res, meta = inputs('cpu', img_h, img_w, num_dets)
    labels = [
        'coarse head', 'feature sampling', 'point MLP', 'uncertainty',
        'top-k', 'pasting',
    ]  # fmt: skip

    def run():
        with torch.no_grad():
            return head.predict_mask(feats, [meta], [res.clone()])

    times = profile(run, labels, repeats)
    # floors
    points = num_dets * head.subdivision_settings().plan((7, 7)).predictions
    fc, k = 256, 80
    # Multiply-adds of the real code: the whole refinement (the point MLP
    # on the path it takes here, e.g. PointMLP.project_fine on P2) minus the
    # coarse head, both counted on the modules.
    from mmdet.structures.bbox import bbox2roi

    rois = bbox2roi([res.bboxes])
    coarse_macs = count_macs(_CoarseHead(head), (feats[0], rois))
    mlp_macs = (
        count_macs(_Refinement(head), (feats[0], rois, res.labels))
        - coarse_macs
    )
    boxes = res.bboxes
    area = float(
        ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum()
    )
    maps = num_dets * sum((7 * 2**s) ** 2 for s in range(3, 6))  # 56..224
    floors = {
        'coarse head': coarse_macs / gemm
        + num_dets * 196 * 256 * 4 * 5 / bandwidth,
        'feature sampling': points * (fc + k) * 4 * 5 / bandwidth,
        'point MLP': mlp_macs / mlp_gemm,
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
    return rows


def semantic_parts(repeats: int, rates: Rates, div: int) -> list:
    import torch

    from mmpointrend.analysis.cases import semantic_render_case

    mlp_gemm, bandwidth = rates.mlp_gemm, rates.bandwidth
    head, fine, coarse, cfg = semantic_render_case(div=div)
    labels = ['feature sampling', 'point MLP', 'uncertainty', 'top-k']

    def run():
        with torch.no_grad():
            return head(fine, coarse, cfg)

    times = profile(run, labels, repeats)
    points, k, fc = 2 * 8192, 19, 256
    mlp_macs = _mlp_macs(head.mlp, points)
    # the two upsampled maps
    maps = 19 * (512 * 1024 + 1024 * 2048) // div**2
    floors = {
        # P2 features and coarse logits: 4 corners read, 1 value written
        'feature sampling': points * (fc + k) * 4 * 5 / bandwidth,
        'point MLP': mlp_macs / mlp_gemm,
        'uncertainty': (maps * 4 + maps // 19 * 4) / bandwidth,
        'top-k': maps // 19 * 4 / bandwidth,
    }
    rest = times['total'] - sum(times[label] for label in labels)
    rows = [(label, times[label], floors[label]) for label in labels]
    # the upsampled maps are new memory (40 and 160 MB): written at the
    # first-touch rate, their inputs read at the copy bandwidth
    rows.append(
        (
            'upsampling + scatter (rest)',
            rest,
            maps * 4 / rates.fresh + maps // 4 * 4 / bandwidth,
        )
    )
    rows.append(('total', times['total'], sum(f for _, _, f in rows)))
    return rows


def training_parts(repeats: int, rates: Rates, div: int) -> list:
    """One SemanticFPN + PointRend R50 training iteration, 2 x 512x1024."""
    import torch
    from mmengine.analysis import FlopAnalyzer

    from mmpointrend.apis import build_model, resolve_config
    from mmpointrend.testing import demo_seg_batch

    gemm, mlp_gemm, bandwidth = rates.gemm, rates.mlp_gemm, rates.bandwidth
    torch.manual_seed(0)
    model, _ = build_model(
        resolve_config(
            'configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py',
            ROOT,
        )
    )
    model.init_weights()
    model.train()
    optim = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    size = (512 // div, 1024 // div)
    inputs, samples = demo_seg_batch(2, size, 19, seed=0)
    coarse_head, point_head = model.decode_head
    labels = [
        'backbone + neck', 'coarse head + loss', 'point sampler',
        'feature sampling', 'point MLP', 'point loss', 'backward',
        'optimizer step',
    ]  # fmt: skip

    def run():
        from torch.profiler import record_function

        losses = model.loss(inputs, samples)
        total = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        with record_function('backward'):
            total.backward()
        with record_function('optimizer step'):
            optim.step()

    times = profile(run, labels, repeats)
    # Floors: convolutions at the square-GEMM rate (forward multiply-adds
    # counted by MMEngine's analyzer; backward does twice the forward's),
    # the point MLP's GEMMs at their own shape's rate, bytes at the copy
    # bandwidth.
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        conv_macs = FlopAnalyzer(model.backbone, inputs).total()
        conv_macs += FlopAnalyzer(
            model.neck, (model.backbone(inputs),)
        ).total()
        head_macs = FlopAnalyzer(coarse_head, (feats,)).total()
    model.train()
    sampler = point_head.point_sampler
    points = 2 * sampler.num_points
    fc, k = 256, 19
    mlp_macs = _mlp_macs(point_head.mlp, points)
    params = sum(p.numel() for p in model.parameters())
    logits = 2 * k * size[0] * size[1]  # coarse logits upsampled for the loss
    floors = {
        'backbone + neck': conv_macs / gemm,
        'coarse head + loss': head_macs / gemm + logits * 4 * 3 / bandwidth,
        # k * N candidates: 19 coarse logits read at 4 corners, 1 written.
        'point sampler': 2 * sampler.num_candidates * k * 4 * 5 / bandwidth,
        'feature sampling': points * (fc + k) * 4 * 5 / bandwidth,
        'point MLP': mlp_macs / mlp_gemm,
        'point loss': points * k * 4 * 2 / bandwidth,
        'backward': 2 * (conv_macs + head_macs) / gemm
        + 2 * mlp_macs / mlp_gemm,
        # SGD with momentum: read weight, grad, buffer; write weight, buffer.
        'optimizer step': params * 4 * 5 / bandwidth,
    }
    rows = [(label, times[label], floors[label]) for label in labels]
    rest = times['total'] - sum(times[label] for label in labels)
    rows.append(('rest (data layout, autograd bookkeeping)', rest, 0.0))
    rows.append(('total', times['total'], sum(f for _, _, f in rows)))
    return rows


def table(rows: list) -> str:
    lines = [
        '| part | measured (ms) | floor (ms) | measured / floor |',
        '|---|---|---|---|',
    ]
    for name, measured, floor in rows:
        ratio = f'{measured / floor:.1f}x' if floor > 0 else '-'
        lines.append(
            f'| {name} | {measured * 1e3:.1f} | {floor * 1e3:.1f} | {ratio} |'
        )
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--small',
        action='store_true',
        help='a quarter of each side: a quick check that it runs',
    )
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    from mmpointrend.analysis.measure import replace_block

    rates = machine_rates()
    gemm, mlp_gemm, bandwidth = rates.gemm, rates.mlp_gemm, rates.bandwidth
    print(
        f'GEMM {gemm / 1e9:.1f} (square) / {mlp_gemm / 1e9:.1f} (point MLP '
        f'shape) G multiply-adds/s, copy {bandwidth / 1e9:.1f} GB/s, '
        f'first-touch writes {rates.fresh / 1e9:.1f} GB/s',
        flush=True,
    )
    div = 4 if args.small else 1
    ins = instance_parts(args.repeats, rates, div)
    sem = semantic_parts(args.repeats, rates, div)
    train = training_parts(max(1, args.repeats // 2), rates, div)
    header = (
        (
            '(--small: every side / 4, 1/16 of the detections) '
            if div > 1
            else ''
        )
        + f'Machine: {machine()}; fp32 GEMM {gemm / 1e9:.1f} G '
        f'multiply-adds/s (2048^3) and {mlp_gemm / 1e9:.1f} G '
        "multiply-adds/s (the point MLP's 8192x256 @ 256x256), copy "
        f'bandwidth {bandwidth / 1e9:.1f} GB/s, writes into new memory '
        f'{rates.fresh / 1e9:.1f} GB/s, all measured in the same '
        f'run; {args.repeats} profiled calls '
        f'({max(1, args.repeats // 2)} training iterations); command: '
        f'`python tools/analysis/profile_floors.py --repeats '
        f'{args.repeats}`.\n\n'
    )
    body = (
        header
        + '**Instance refinement** (`PointRendMaskRoIHead.predict_mask`, '
        '100 detections, 800x1216, K = 80, pasting included):\n\n'
        + table(ins)
        + '\n**Semantic point head** (`PointRendSemSegHead.forward`, '
        '1024x2048, K = 19, N = 8192, 2 steps):\n\n'
        + table(sem)
        + '\n**Training iteration** (SemanticFPN + PointRend R50, shipped '
        'config, 2 x 512x1024, forward + backward + SGD step):\n\n'
        + table(train)
    )
    print(body)
    replace_block(args.output, 'floors cpu', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
