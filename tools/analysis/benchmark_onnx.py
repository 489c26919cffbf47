"""onnxruntime vs PyTorch eager for exported PointRend models, one run.

Semantic: SemanticFPN + PointRend R50 (Cityscapes config, random weights,
random BN statistics) at 1024x2048, N = 8192, 2 steps; PyTorch eager is
``mode='tensor'``. Instance: Mask R-CNN + PointRend R50 (COCO config,
random weights, every class kept so that there are 100 detections) at
800x1216; PyTorch eager is mmdet's ``predict`` (which also pastes the
100 masks into the image; the ONNX graph returns them as 224x224
probabilities).
The same image goes through PyTorch eager and through the exported file in
onnxruntime (CPU provider, default threads), medians over ``--repeats``
after one warm-up each. Writes the block ``onnx cpu`` of
docs/benchmarks.md.

Example:
    python tools/analysis/benchmark_onnx.py --repeats 5
"""

from __future__ import annotations

import argparse
import os.path as osp
import sys
import tempfile

from mmpointrend.analysis.measure import machine, median_seconds, replace_block

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = 'configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py'
INSTANCE_CONFIG = (
    'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
)


def _timed(path: str, image, eager, repeats: int) -> tuple:
    """Median eager and onnxruntime times, and onnxruntime's outputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    feed = {'image': image.numpy()}
    got = session.run(None, feed)
    return (
        median_seconds(eager, repeats),
        median_seconds(lambda: session.run(None, feed), repeats),
        got,
    )


def semantic_row(repeats: int, shape=(1024, 2048), config=CONFIG) -> dict:
    import numpy as np
    import torch

    from mmpointrend.apis import build_model
    from mmpointrend.deploy import export_segmentor
    from mmpointrend.testing import random_bn_statistics

    torch.manual_seed(0)
    model = random_bn_statistics(build_model(osp.join(ROOT, config))[0])
    model.eval()
    image = torch.randn(1, 3, *shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_segmentor(model, osp.join(tmp, 'm.onnx'), shape)

        def eager():
            with torch.no_grad():
                return model(image, mode='tensor')

        ref = eager()
        t_eager, t_ort, got = _timed(path, image, eager, repeats)
        got = got[0]
        agree = float((got.argmax(1) == ref.argmax(1).numpy()).mean())
        diff = float(np.abs(got - ref.numpy()).max())
    return dict(eager=t_eager, ort=t_ort, agree=agree, diff=diff, shape=shape)


def instance_row(
    repeats: int, shape=(800, 1216), config=INSTANCE_CONFIG
) -> dict:
    import numpy as np
    import torch

    from mmpointrend.apis import build_model
    from mmpointrend.deploy import export_detector
    from mmpointrend.deploy.detector_export import DetectorExporter

    torch.manual_seed(0)
    model = build_model(osp.join(ROOT, config))[0].eval()
    model.test_cfg.rcnn.score_thr = 0.0  # random heads: keep every class
    wrapper = DetectorExporter(model, shape).eval()
    image = torch.randn(1, 3, *shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_detector(model, osp.join(tmp, 'm.onnx'), shape)
        from mmdet.structures import DetDataSample

        sample = DetDataSample(
            metainfo=dict(
                img_shape=shape,
                ori_shape=shape,
                pad_shape=shape,
                batch_input_shape=shape,
                scale_factor=(1.0, 1.0),
            )
        )

        def eager():
            with torch.no_grad():
                return model.predict(image, [sample], rescale=False)

        with torch.no_grad():
            ref = wrapper(image)
        t_eager, t_ort, got = _timed(path, image, eager, repeats)
        same = got[0].shape == tuple(ref[0].shape) and bool(
            np.array_equal(got[2], ref[2].numpy())
        )
    return dict(
        eager=t_eager, ort=t_ort, dets=len(ref[0]), same=same, shape=shape
    )


def _row(name: str, row: dict) -> str:
    ratio = row['eager'] / row['ort']
    verdict = 'met in this run' if ratio >= 1.0 else '**missed in this run**'
    h, w = row['shape']
    return (
        f'| {name} | {h}x{w} | {row["eager"]:.3f} | {row["ort"]:.3f} | '
        f'**{ratio:.2f}x** (target >= 1.0x) | {verdict} |\n'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--semantic-shape', type=int, nargs=2, default=(1024, 2048)
    )
    parser.add_argument(
        '--instance-shape', type=int, nargs=2, default=(800, 1216)
    )
    parser.add_argument(
        '--config', default=CONFIG, help='semantic config to export'
    )
    parser.add_argument(
        '--instance-config',
        default=INSTANCE_CONFIG,
        help='instance config to export',
    )
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    print('[1] semantic, exporting and timing', flush=True)
    sem = semantic_row(args.repeats, tuple(args.semantic_shape), args.config)
    print('[2] instance, exporting and timing', flush=True)
    ins = instance_row(
        args.repeats, tuple(args.instance_shape), args.instance_config
    )
    sem_name = 'SemanticFPN + PointRend R50, K=19, N=8192, 2 steps'
    if args.config != CONFIG:
        sem_name = f'`{osp.basename(args.config)}`'
    ins_name = 'Mask R-CNN + PointRend R50'
    if args.instance_config != INSTANCE_CONFIG:
        ins_name = f'`{osp.basename(args.instance_config)}`'
    command = ' '.join(
        ['python tools/analysis/benchmark_onnx.py', *sys.argv[1:]]
    )
    body = (
        f'Machine: {machine()}; medians of {args.repeats} runs after 1 '
        f'warm-up; command: `{command}`.\n\n'
        '| model | input | PyTorch eager (s) | onnxruntime (s) | '
        'eager / onnxruntime | target |\n|---|---|---|---|---|---|\n'
        + _row(sem_name, sem)
        + _row(
            f'{ins_name}, {ins["dets"]} detections (eager: mmdet predict)',
            ins,
        )
        + f'\nSemantic, same image and weights: logits max |diff| '
        f'{sem["diff"]:.1e}, labels equal on {sem["agree"]:.4%} of pixels. '
        f'Instance: same detections and labels: {ins["same"]}.\n'
    )
    print(body)
    replace_block(args.output, 'onnx cpu', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
