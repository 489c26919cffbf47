"""onnxruntime vs PyTorch eager for exported PointRend models, one run.

Semantic: SemanticFPN + PointRend R50 (Cityscapes config, random weights,
random BN statistics) at 1024x2048, N = 8192, 2 steps; the same image
through PyTorch eager (``mode='tensor'``) and through the exported file in
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

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from tools.analysis.common import (  # noqa: E402
    machine,
    median_seconds,
    replace_block,
)

CONFIG = 'configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py'


def semantic_row(repeats: int, shape=(1024, 2048)) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    from mmpointrend.apis import build_model
    from mmpointrend.deploy import export_segmentor

    torch.manual_seed(0)
    model = build_model(osp.join(ROOT, CONFIG))[0].eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    image = torch.randn(1, 3, *shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_segmentor(model, osp.join(tmp, 'm.onnx'), shape)
        session = ort.InferenceSession(
            path, providers=['CPUExecutionProvider']
        )
        feed = {'image': image.numpy()}

        def eager():
            with torch.no_grad():
                return model(image, mode='tensor')

        ref = eager()
        got = session.run(None, feed)[0]
        agree = float((got.argmax(1) == ref.argmax(1).numpy()).mean())
        diff = float(np.abs(got - ref.numpy()).max())
        t_eager = median_seconds(eager, repeats)
        t_ort = median_seconds(lambda: session.run(None, feed), repeats)
    return dict(eager=t_eager, ort=t_ort, agree=agree, diff=diff, shape=shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--output', default=osp.join(ROOT, 'docs', 'benchmarks.md')
    )
    args = parser.parse_args()
    print('[1] semantic 1024x2048, exporting and timing', flush=True)
    row = semantic_row(args.repeats)
    ratio = row['eager'] / row['ort']
    verdict = 'met in this run' if ratio >= 1.0 else '**missed in this run**'
    h, w = row['shape']
    body = (
        f'Machine: {machine()}; medians of {args.repeats} runs after 1 '
        'warm-up; command: `python tools/analysis/benchmark_onnx.py '
        f'--repeats {args.repeats}`.\n\n'
        '| model | input | PyTorch eager (s) | onnxruntime (s) | '
        'eager / onnxruntime | target |\n|---|---|---|---|---|---|\n'
        f'| SemanticFPN + PointRend R50, K=19, N=8192, 2 steps | '
        f'{h}x{w} | {row["eager"]:.3f} | {row["ort"]:.3f} | '
        f'**{ratio:.2f}x** (target >= 1.0x) | {verdict} |\n\n'
        f'Same image, same weights: logits max |diff| {row["diff"]:.1e}, '
        f'labels equal on {row["agree"]:.4%} of pixels. Instance (Mask '
        'R-CNN + PointRend) export is not available yet, so it has no '
        'row.\n'
    )
    print(body)
    replace_block(args.output, 'onnx cpu', body)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
