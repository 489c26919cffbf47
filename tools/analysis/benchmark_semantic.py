"""Semantic PointRend benchmarks against mmseg 1.2.2, measured in one run.

Cases (identical weights and inputs):

(a) point-head inference at 1024x2048, 19 classes: mmseg ``PointHead`` vs
    :class:`PointRendSemSegHead` (same converted weights, N=8192, 2 steps);
(b) DeepLabV3-OS16 + PointRend vs dense DeepLabV3-OS8, R50, 1024x2048 output,
    whole-model inference;
(c) one training iteration (forward + backward + SGD step) of SemanticFPN +
    PointRend R50 at 512x1024, batch 2: mmseg's segmentor vs ours.

Each run builds the reference and ours in two fresh processes, warms each
up once, then calls them in turn (reference, ours, ours, reference, ...),
``--repeats`` calls each, so that a slow period of a shared machine falls
on both. Timings are medians of those calls; memory is the
peak resident-set growth of the worker process during the measured calls
(CPU), or ``torch.cuda.max_memory_allocated`` (GPU). Results go to
``docs/benchmarks.md`` (the table between the BENCHMARK markers). Run
with ``THP_MEM_ALLOC_ENABLE=1`` (PyTorch's switch for transparent huge
pages behind large CPU tensors) the tables go to blocks ending in ``thp``.

Example:
    python tools/analysis/benchmark_semantic.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import os.path as osp

from mmpointrend.analysis.measure import (
    machine,
    measure_interleaved,
    replace_block,
    spread,
    verdict,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

FPN_POINTREND = (
    'configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py'
)
MMSEG_POINTREND = (
    'mmseg::point_rend/pointrend_r50_4xb2-80k_cityscapes-512x1024.py'
)
DLV3_POINTREND = (
    'configs/deeplabv3/'
    'pointrend_deeplabv3_r50-d16_4xb2-80k_cityscapes-512x1024.py'
)
DLV3_OS8 = 'configs/deeplabv3/deeplabv3_r50-d8_4xb2-80k_cityscapes-512x1024.py'


def _build(path: str, device: str):
    import torch

    from mmpointrend.apis import build_model as build_model_from_config
    from mmpointrend.apis import resolve_config

    torch.manual_seed(0)
    model, _ = build_model_from_config(
        resolve_config(path, ROOT),
        {'model.test_cfg.subdivision_num_points': 8192},
    )
    model.init_weights()
    return model.to(device)


def _paired_models(device: str):
    """Mmseg's SemanticFPN+PointRend and ours with the same weights."""
    from mmpointrend.checkpoint.foreign import convert_mmseg_pointrend

    ref = _build(MMSEG_POINTREND, device)
    ours = _build(FPN_POINTREND, device)
    ours.load_state_dict(convert_mmseg_pointrend(ref.state_dict())[0])
    return ref, ours


def _setup(
    case: str, impl: str, device: str, small: bool, autocast: str = 'none'
):
    """Build one (case, implementation); its measured call, under autocast.

    ``autocast='bf16'`` runs our calls under ``torch.autocast`` in
    bfloat16: an option that trades accuracy for speed, measured as such.
    The reference stays in float32: mmseg 1.2.2's ``PointHead.predict``
    raises under autocast (it scatters the low-precision point logits into
    the float32 map).
    """
    run = _build_call(case, impl, device, small)
    if autocast == 'none' or impl == 'mmseg':
        return run
    return _under_autocast(run, device)


def _under_autocast(run, device: str):
    """``run`` called under bfloat16 ``torch.autocast``."""
    import torch

    def run_autocast():
        with torch.autocast(device, dtype=torch.bfloat16):
            return run()

    return run_autocast


def _build_call(case: str, impl: str, device: str, small: bool):
    """Build one (case, implementation) and return its measured call."""
    import torch

    # --small: a quarter of each side, for a quick check that it runs.
    div = 4 if small else 1

    torch.set_num_threads(int(os.environ.get('BENCH_THREADS', os.cpu_count())))
    torch.manual_seed(0)
    if case == 'a':
        ref, ours = _paired_models(device)
        head = (ref if impl == 'mmseg' else ours).decode_head[1].eval()
        del ref, ours
        feats = [torch.randn(1, 256, 256 // div, 512 // div, device=device)]
        # Smooth coarse logits: uncertainty concentrates near class borders,
        # as in a trained model (white-noise logits would make every cell
        # equally likely to be picked).
        coarse = torch.nn.functional.interpolate(
            torch.randn(1, 19, 16, 32, device=device) * 4,
            size=(256 // div, 512 // div),
            mode='bilinear',
        )
        size = (1024 // div, 2048 // div)
        metas = [dict(img_shape=size, pad_shape=size)]
        cfg = dict(
            subdivision_steps=2, subdivision_num_points=8192, scale_factor=2
        )
        from mmengine.config import ConfigDict

        cfg = ConfigDict(cfg)
        if impl == 'shared':
            return _shared_work(head, feats, coarse, cfg)

        def run():
            with torch.no_grad():
                return head.predict(feats, coarse, metas, cfg)

    elif case == 'b':
        model = _build(
            DLV3_POINTREND if impl == 'ours' else DLV3_OS8, device
        ).eval()
        size = (1024 // div, 2048 // div)
        inputs = torch.randn(1, 3, *size, device=device)
        metas = [dict(img_shape=size, pad_shape=size, ori_shape=size)]

        def run():
            with torch.no_grad():
                return model.inference(inputs, metas)

    elif case == 'c':
        from mmpointrend.testing import demo_seg_batch

        ref, ours = _paired_models(device)
        model = (ref if impl == 'mmseg' else ours).train()
        del ref, ours
        optim = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        inputs, samples = demo_seg_batch(
            2, (512 // div, 1024 // div), 19, seed=0
        )
        inputs = inputs.to(device)
        samples = [s.to(device) for s in samples]

        def run():
            losses = model.loss(inputs, samples)
            total = sum(v for k, v in losses.items() if 'loss' in k)
            optim.zero_grad()
            total.backward()
            optim.step()
            return total

    else:
        raise ValueError(case)
    return run


def _shared_work(head, feats: list, coarse, cfg):
    """Case (a) without choosing and writing back points: the ceiling.

    What both heads do with the same PyTorch kernels on the same tensors:
    upsample the logits twice (the second time into a fresh 1024x2048
    map), read P2 and the coarse logits at the chosen points, and run the
    point MLP (ours, at its GEMM floor in the profile). Left out:
    uncertainty, top-k and the scatter. The reference's time over this
    one's is the most any implementation built from these kernels could
    gain. The points are those ours chooses, found before timing.
    """
    import torch
    import torch.nn.functional as F

    from mmpointrend.models.utils import cell_centers

    steps = []

    def keep(logits, idx):
        steps.append(cell_centers(idx, *logits.shape[-2:]))

    with torch.no_grad():
        head(feats, coarse, cfg, on_step=keep)

    predict = head.point_predictor(feats, coarse)

    def run():
        with torch.no_grad():
            logits = coarse
            for points in steps:
                logits = F.interpolate(
                    logits, None, 2, 'bilinear', align_corners=False
                )
                predict(points)
            return logits

    return run


def measure(
    case: str,
    repeats: int,
    device: str,
    small: bool = False,
    impls: tuple[str, ...] = ('mmseg', 'ours'),
    autocast: str = 'none',
) -> dict[str, dict]:
    """Each implementation in a fresh process, their calls alternating.

    Returns:
        dict[str, dict]: Per implementation, as
        :func:`~tools.analysis.common.measure_interleaved` gives it.
    """
    return measure_interleaved(
        _setup,
        {impl: (case, impl, device, small, autocast) for impl in impls},
        repeats,
        device,
    )


CASES = {
    'a': (
        'point-head inference, 1024x2048, K=19, N=8192, 2 steps',
        'mmseg PointHead',
        2.5,
        1.0,
    ),
    'b': (
        'DeepLabV3-OS16+PointRend vs DeepLabV3-OS8, R50, 1024x2048',
        'DeepLabV3-OS8 (dense)',
        2.0,
        0.5,
    ),
    'c': (
        'training iteration, SemanticFPN+PointRend R50, 2x512x1024',
        'mmseg CascadeEncoderDecoder',
        1.3,
        None,
    ),
}


THP_PREFIX = 'THP_MEM_ALLOC_ENABLE=1 '


def _autocast_effect(device: str, small: bool, autocast: str) -> str:
    """What autocast changes in our head's output, on the same inputs."""
    run = _build_call('a', 'ours', device, small)
    full = run()
    low = _under_autocast(run, device)().float()
    changed = (full.argmax(1) != low.argmax(1)).float().mean().item()
    diff = (full - low).abs()
    return (
        f'Effect of {autocast} on ours (same inputs and weights, against '
        f'float32): {changed * 100:.3f}% of the labels change; logits '
        f'differ by {diff.median().item():.2g} (median) and '
        f'{diff.max().item():.3g} (max; largest where one run re-predicts '
        'a cell the other does not).\n\n'
    )


def _fmt(result: dict) -> str:
    return f'{result["median"]:.3f} s, +{result["peak_mib"]:.0f} MiB'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--cases', default='abc')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument(
        '--small',
        action='store_true',
        help='a quarter of each side: a quick check that it runs',
    )
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument(
        '--autocast',
        default='none',
        choices=['none', 'bf16'],
        help='case (a) only: run our head under torch.autocast in this '
        'dtype (trades accuracy; the labels changed are reported); the '
        'reference stays float32 (mmseg 1.2.2 raises under autocast)',
    )
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    # PyTorch's allocator backs large CPU tensors with transparent huge
    # pages when this is set at start-up; the spawned workers inherit it.
    # Its results go to blocks of their own.
    thp = os.environ.get('THP_MEM_ALLOC_ENABLE') == '1'
    if args.autocast != 'none' and args.cases != 'a':
        parser.error('--autocast applies to case a (inference) only')
    for case in args.cases:
        title, ref_name, speed_target, mem_target = CASES[case]
        print(f'[{case}] {title}', flush=True)
        met, rows = [], []
        ceiling = case == 'a'
        impls = ('mmseg', 'ours', 'shared') if ceiling else ('mmseg', 'ours')
        for run in range(1, args.runs + 1):
            found = measure(
                case, args.repeats, args.device, args.small, impls,
                args.autocast,
            )  # fmt: skip
            ref, ours = found['mmseg'], found['ours']
            print(f'    run {run} reference: {_fmt(ref)}', flush=True)
            print(f'    run {run} ours:      {_fmt(ours)}', flush=True)
            speed = ref['median'] / ours['median']
            extra = ''
            if ceiling:
                shared = found['shared']
                print(f'    run {run} shared:    {_fmt(shared)}', flush=True)
                extra = (
                    f' {shared["median"]:.3f} | '
                    f'{ref["median"] / shared["median"]:.2f}x |'
                )
            mem = (
                ours['peak_mib'] / ref['peak_mib']
                if ref['peak_mib'] > 0
                else float('nan')
            )
            met.append(
                speed >= speed_target
                and (mem_target is None or mem <= mem_target)
            )
            rows.append(
                f'| {run} | {spread(ref)} | {spread(ours)} | '
                f'**{speed:.2f}x** | {ref["peak_mib"]:.0f} | '
                f'{ours["peak_mib"]:.0f} | {mem:.2f} |' + extra
            )
        mem_text = '' if mem_target is None else f', memory <= {mem_target}x'
        head_extra = (
            ' shared work, median (s) | ceiling (reference / shared) |'
            if ceiling
            else ''
        )
        rule_extra = '---|---|' if ceiling else ''
        note = (
            'Shared work: the same call without uncertainty, top-k and '
            'scatter (upsampling, point sampling, point MLP), timed in a '
            'third process alternating with the other two; the ceiling is '
            'the speed-up a head would reach if choosing and writing back '
            'the points were free.\n\n'
            if ceiling
            else ''
        )
        autocast_arg = autocast_title = ''
        if args.autocast != 'none':
            note += _autocast_effect(args.device, args.small, args.autocast)
            autocast_arg = f' --autocast {args.autocast}'
            autocast_title = (
                f'; ours (and its shared work) under torch.autocast('
                f'{args.autocast}), the reference in float32 (mmseg '
                "1.2.2's PointHead raises under autocast)"
            )
        table = (
            f'Machine: {machine()}; device {args.device}; {args.runs} '
            f'consecutive runs of {args.repeats} calls after 1 warm-up, '
            'each implementation in a fresh process, their calls '
            'alternating (reference, ours, ours, reference, ...); '
            f'command: `{THP_PREFIX if thp else ""}python '
            f'tools/analysis/benchmark_semantic.py --cases {case} --repeats '
            f'{args.repeats} --runs {args.runs} --device {args.device}'
            f'{autocast_arg}`.\n\n'
            f'({case}) {title}; reference: {ref_name}'
            f'{autocast_title}.\n\n'
            '| run | reference min / median / max (s) | ours min / median / '
            'max (s) | speed-up (medians) | ref peak (MiB) | ours peak (MiB) '
            '| memory ratio |' + head_extra + '\n'
            '|---|---|---|---|---|---|---|'
            + rule_extra
            + '\n'
            + '\n'.join(rows)
            + f'\n\nTarget: >= {speed_target}x{mem_text} in every run: '
            f'{verdict(met)}.\n\n' + note
        ).rstrip('\n') + '\n'
        print(table)
        block = f'semantic-{case} {args.device}' + (' thp' if thp else '')
        if args.autocast != 'none':
            block += f' {args.autocast}'
        replace_block(args.output, block, table)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
