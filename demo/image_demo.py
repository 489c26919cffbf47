"""Run a PointRend model on your own images.

MODEL is a model-zoo name (weights downloaded and verified on first use;
see docs/model_zoo.md) or a config file with --weights. IMAGE is an image
file or a folder of images.

Examples:
    python demo/image_demo.py street.png pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024
    python demo/image_demo.py photos/ configs/synthetic/\
pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py \
        --weights work_dirs/demo_instance/iter_400.pth --out-dir out/ \
        --show-points

Outputs under --out-dir: ``vis/`` (predictions drawn over the images),
``pred/`` label PNGs (semantic) or ``preds/`` JSON with RLE masks
(instance), and with --show-points ``points/<image>/`` pictures of the
cells each subdivision step re-predicted.
"""

import argparse
import glob
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmpointrend import visualization as vis  # noqa: E402
from mmpointrend.apis import PointRendInferencer  # noqa: E402
from mmpointrend.checkpoint.cli import add_trust_argument  # noqa: E402
from mmpointrend.engine.runner_setup import run_cli  # noqa: E402

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def _images(path: str) -> list[str]:
    if osp.isdir(path):
        files = sorted(
            f
            for f in glob.glob(osp.join(path, '*'))
            if f.lower().endswith(IMAGE_SUFFIXES)
        )
        if not files:
            raise FileNotFoundError(f'no images ({IMAGE_SUFFIXES}) in {path}')
        return files
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path} does not exist')
    return [path]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image', help='image file or folder')
    parser.add_argument('model', help='model-zoo name or config file')
    parser.add_argument('--weights', help='checkpoint (any supported layout)')
    parser.add_argument('--out-dir', default='outputs', help='output folder')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda:0'")
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.5,
        help='instance models: draw and save detections above this score',
    )
    parser.add_argument(
        '--show-points',
        action='store_true',
        help='also draw the points each subdivision step re-predicted',
    )
    add_trust_argument(parser)
    args = parser.parse_args()
    images = _images(args.image)
    inferencer = PointRendInferencer(
        args.model, weights=args.weights, device=args.device
    )
    is_instance = 'roi_head' in inferencer.cfg.model
    kwargs = dict(out_dir=args.out_dir)
    if is_instance:
        kwargs.update(no_save_pred=False, pred_score_thr=args.score_thr)
    inferencer(images, **kwargs)
    if args.show_points:
        model, cfg = inferencer.model, inferencer.cfg
        for image in images:
            name = osp.splitext(osp.basename(image))[0]
            out = osp.join(args.out_dir, 'points', name)
            inputs, samples, picture = vis.prepare_image(cfg, model, image)
            inputs = inputs.to(args.device)
            if is_instance:
                steps = vis.instance_steps(model, inputs, samples, 4)
                vis.draw_instance(picture, *steps, out)
            else:
                coarse, steps = vis.semantic_steps(model, inputs)
                vis.draw_semantic(picture, coarse, steps, out)
    print(f'{len(images)} images -> {osp.abspath(args.out_dir)}')


if __name__ == '__main__':
    run_cli(main)
