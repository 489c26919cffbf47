"""Export a PointRend model to ONNX and check it against onnxruntime.

Examples:
    python tools/deployment/export_onnx.py \
        work_dirs/demo_semantic/pointrend_fpn_r18-slim_2xb4-1500_*.py \
        work_dirs/demo_semantic/iter_1500.pth --out pointrend.onnx \
        --shape 512 512 --verify
    # TensorRT's TopK takes k <= 3840:
    python tools/deployment/export_onnx.py CONFIG CKPT --out m.onnx \
        --shape 1024 2048 --max-points 3840

The input is a normalised (B, 3, H, W) float tensor (the model's data
preprocessor: mean/std and channel order). Semantic models output
``logits`` (B, K, H, W) and ``labels`` (B, H, W); Mask R-CNN + PointRend
(B = 1) outputs ``boxes``, ``scores``, ``labels`` and ``masks`` (n, 224,
224) probabilities inside each box. See docs/deployment.md.
"""

from __future__ import annotations

import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    from mmpointrend.checkpoint.cli import add_trust_argument

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file or model-zoo name')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='weights (default: the zoo weights of a model name)',
    )
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=(512, 512),
        metavar=('H', 'W'),
        help='input size (fixed in the graph); default 512 512',
    )
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument(
        '--dynamic', action='store_true', help='dynamic batch axis'
    )
    parser.add_argument(
        '--max-points',
        type=int,
        help='cap the points per subdivision step (TensorRT: 3840)',
    )
    parser.add_argument(
        '--verify',
        action='store_true',
        help='run the file in onnxruntime on a random image and compare',
    )
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing --out'
    )
    add_trust_argument(parser)
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        parser.error(
            f'--shape {args.shape[0]} {args.shape[1]}: height and width must '
            'be positive pixel counts, e.g. --shape 512 512'
        )
    if args.max_points is not None and args.max_points < 1:
        parser.error(f'--max-points must be >= 1, got {args.max_points}')
    from mmpointrend.checkpoint.io import check_output_path

    try:  # before the model is built: nothing is lost on a bad --out
        check_output_path(
            args.out,
            [args.config, args.checkpoint or ''],
            args.force,
            option='--out',
        )
    except (ValueError, FileExistsError) as exc:
        parser.error(str(exc))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    from mmpointrend.apis import init_model
    from mmpointrend.deploy import export_segmentor

    model = init_model(args.config, args.checkpoint, device='cpu')
    if hasattr(model, 'roi_head'):
        return _export_instance(args, model)
    export_segmentor(
        model,
        args.out,
        tuple(args.shape),
        dynamic_batch=args.dynamic,
        max_points=args.max_points,
        opset=args.opset,
    )
    num_points = model.test_cfg['subdivision_num_points']
    print(f'wrote {args.out} (input 1x3x{args.shape[0]}x{args.shape[1]}, '
          f'N = {num_points} points per step)')  # fmt: skip
    if args.verify:
        from mmpointrend.deploy.verify import verify_segmentor

        return _report(verify_segmentor(model, args.out, tuple(args.shape)))
    return 0


def _report(verdict) -> int:
    """Print a --verify verdict; exit status 1 when it failed."""
    print(verdict.message, flush=True)
    if not verdict.ok:
        print(
            'error: the ONNX file does not reproduce PyTorch within the '
            'tolerance of docs/deployment.md (see above)',
            file=sys.stderr,
        )
        return 1
    return 0


def _export_instance(args, model) -> int:
    """Mask R-CNN + PointRend: boxes, scores, labels, 224x224 masks."""
    from mmpointrend.deploy import export_detector

    if args.dynamic or args.max_points:
        print(
            'error: --dynamic and --max-points apply to semantic models; '
            'instance graphs take one image and N = 784 <= 3840 already',
            file=sys.stderr,
        )
        return 2
    shape = tuple(args.shape)
    export_detector(model, args.out, shape, opset=args.opset)
    print(f'wrote {args.out} (input 1x3x{shape[0]}x{shape[1]}; outputs '
          'boxes, scores, labels, masks)')  # fmt: skip
    if args.verify:
        from mmpointrend.deploy.verify import verify_detector

        return _report(verify_detector(model, args.out, shape))
    return 0


if __name__ == '__main__':
    sys.path.insert(0, ROOT)
    sys.exit(main())
