"""End-to-end inference: what PointRend costs over its baseline.

Whole-model inference of one image, each model in a fresh process, the
same weights wherever the models share a part (converted between the
implementations, copied into the baseline):

* semantic, 1024x2048: mmpointrend SemanticFPN + PointRend R50 (its shipped
  config) vs mmseg's PointRend (same weights, N = 8192 points per step as
  ours) vs mmseg's SemanticFPN R50 (the coarse model alone, upsampled);
* instance, 800x1216, 100 detections (``score_thr=0`` so that every model
  refines the same number of masks): mmpointrend Mask R-CNN + PointRend R50
  vs mmdet's PointRend vs mmdet's Mask R-CNN R50 (4x conv mask head, 28x28
  masks).

Medians over ``--repeats`` calls after one warm-up; peak memory is the
worker's resident-set growth (CPU) or ``max_memory_allocated`` (GPU).
Writes the block ``end-to-end <device>`` of docs/benchmarks.md.

Example:
    python tools/analysis/benchmark_end_to_end.py --repeats 3
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

SEMANTIC = {
    'mmpointrend PointRend': (
        'configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py'
    ),
    'mmseg PointRend': (
        'mmseg::point_rend/pointrend_r50_4xb2-80k_cityscapes-512x1024.py'
    ),
    'mmseg SemanticFPN (baseline)': (
        'mmseg::sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py'
    ),
}
INSTANCE = {
    'mmpointrend PointRend': (
        'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
    ),
    'mmdet PointRend': (
        'mmdet::point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py'
    ),
    'mmdet Mask R-CNN (baseline)': (
        'mmdet::mask_rcnn/mask-rcnn_r50-caffe_fpn_ms-poly-1x_coco.py'
    ),
}


def _build(spec: str, overrides: dict, device: str):
    import torch

    from mmpointrend.apis import build_model, resolve_config

    torch.manual_seed(0)
    model, _ = build_model(resolve_config(spec, ROOT), overrides)
    model.init_weights()
    return model.to(device).eval()


def _semantic_model(name: str, device: str):
    from mmpointrend.checkpoint.foreign import convert_mmseg_pointrend

    points = {'model.test_cfg.subdivision_num_points': 8192}
    ref = _build(SEMANTIC['mmseg PointRend'], points, device)
    if name == 'mmseg PointRend':
        return ref
    state = ref.state_dict()
    if name == 'mmpointrend PointRend':
        model = _build(SEMANTIC[name], points, device)
        model.load_state_dict(convert_mmseg_pointrend(state)[0])
        return model
    model = _build(SEMANTIC[name], {}, device)
    # Backbone, neck and FPN head are the same modules in both models.
    shared = {
        k.replace('decode_head.0.', 'decode_head.', 1): v
        for k, v in state.items()
        if not k.startswith('decode_head.1.')
    }
    model.load_state_dict(shared)
    return model


def _instance_model(name: str, device: str, small: bool = False):
    from mmpointrend.checkpoint.foreign import convert_mmdet_pointrend

    every_box = {'model.test_cfg.rcnn.score_thr': 0.0}
    if small:
        every_box['model.test_cfg.rcnn.max_per_img'] = 10
    ref = _build(INSTANCE['mmdet PointRend'], every_box, device)
    if name == 'mmdet PointRend':
        return ref
    state = ref.state_dict()
    model = _build(INSTANCE[name], every_box, device)
    if name == 'mmpointrend PointRend':
        model.load_state_dict(convert_mmdet_pointrend(state)[0])
    else:
        # Backbone, neck, RPN and box head are shared; the 4x conv mask
        # head keeps its own initialisation.
        shared = {
            k: v for k, v in state.items() if not k.startswith('roi_head.m')
        }
        shared.update(
            (k, v) for k, v in state.items() if k.startswith('roi_head.bbox')
        )
        missing = model.load_state_dict(shared, strict=False).missing_keys
        assert all(k.startswith('roi_head.mask_head') for k in missing)
    return model


def _worker(task: str, name: str, repeats: int, device: str, small: bool, q):
    import torch

    div = 4 if small else 1
    if task == 'semantic':
        from mmseg.structures import SegDataSample

        model = _semantic_model(name, device)
        size = (1024 // div, 2048 // div)
        meta = dict(img_shape=size, pad_shape=size, ori_shape=size)
        samples = [SegDataSample(metainfo=meta)]

        def check(out):
            return tuple(out[0].seg_logits.data.shape)

    else:
        from mmdet.structures import DetDataSample

        model = _instance_model(name, device, small)
        size = (800 // div, 1216 // div)
        meta = dict(
            img_shape=size,
            ori_shape=size,
            pad_shape=size,
            batch_input_shape=size,
            scale_factor=(1.0, 1.0),
        )
        samples = [DetDataSample(metainfo=meta)]

        def check(out):
            return len(out[0].pred_instances)

    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(1, 3, *size, generator=gen).to(device)

    def run():
        with torch.no_grad():
            return model.predict(inputs, samples)

    result = measure_calls(run, repeats, device, check)
    result['check'] = result.pop('first')
    q.put(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--tasks', default='semantic,instance')
    parser.add_argument(
        '--small',
        action='store_true',
        help='a quarter of each side: a quick check that it runs',
    )
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    sections = []
    for task in args.tasks.split(','):
        names = SEMANTIC if task == 'semantic' else INSTANCE
        results = {}
        for name in names:
            print(f'[{task}] {name}', flush=True)
            results[name] = run_in_process(
                _worker, task, name, args.repeats, args.device, args.small
            )
            r = results[name]
            print(
                f'    {r["median"]:.3f} s, +{r["peak_mib"]:.0f} MiB, '
                f'output {r["check"]}',
                flush=True,
            )
        ours = results['mmpointrend PointRend']['median']
        baseline = results[list(names)[-1]]['median']
        div = 4 if args.small else 1
        shape = (
            f'{1024 // div}x{2048 // div}'
            if task == 'semantic'
            else f'{800 // div}x{1216 // div}'
        )
        lines = [
            f'**{task.capitalize()}**, {shape}'
            + (
                ''
                if task == 'semantic'
                else f', {10 if args.small else 100} detections'
            )
            + ':\n',
            '| model | min / median / max (s) | vs mmpointrend | vs '
            'baseline | peak (MiB) |',
            '|---|---|---|---|---|',
        ]
        for name, r in results.items():
            lines.append(
                f'| {name} | {spread(r)} | {r["median"] / ours:.2f}x | '
                f'{r["median"] / baseline:.2f}x | {r["peak_mib"]:.0f} |'
            )
        sections.append('\n'.join(lines) + '\n')
    body = (
        f'Machine: {machine()}; device {args.device}; {args.repeats} calls '
        'after 1 warm-up, each model in a fresh process; command: `python '
        f'tools/analysis/benchmark_end_to_end.py --repeats {args.repeats} '
        f'--device {args.device}`.\n\n' + '\n'.join(sections)
    )
    print(body)
    replace_block(args.output, f'end-to-end {args.device}', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
