"""Draw PointRend's adaptive subdivision on one image.

Semantic models: the coarse prediction and the label map after every step,
with the points re-predicted at that step (``semantic_*.png`` and a strip).
Instance models: per detection, the box crop, coarse 7x7 probabilities and
every step to 224x224 with its points (``instance_*.png``).
``--compare CONFIG CHECKPOINT`` (once or several times) adds
``comparison.png``: those models' predictions (e.g. the baseline) next to
this one's, each captioned (``--captions`` names them, compared models
first; by default the config names).

Example:
    python tools/visualization/show_subdivision.py CONFIG CHECKPOINT \
        data/synthetic/img_dir/val/val_0000.png --out vis/
"""

import argparse
import os
import os.path as osp

import numpy as np
from mmengine.config import DictAction

from mmpointrend import visualization as vis
from mmpointrend.checkpoint.cli import add_trust_argument
from mmpointrend.checkpoint.io import write_image
from mmpointrend.engine.runner_setup import run_cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--max-dets', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='config overrides, e.g. model.test_cfg.rcnn.score_thr=0.3',
    )
    parser.add_argument(
        '--compare',
        nargs=2,
        action='append',
        metavar=('CONFIG', 'CHECKPOINT'),
        help='another model (e.g. the baseline) to show side by side; '
        'repeat for several',
    )
    parser.add_argument(
        '--captions',
        nargs='+',
        help='panel captions of comparison.png: the --compare models in '
        'order, then this one',
    )
    parser.add_argument(
        '--crop',
        nargs=4,
        type=int,
        metavar=('X0', 'Y0', 'X1', 'Y1'),
        help='show only this box (image pixels) of each comparison panel',
    )
    add_trust_argument(parser)
    args = parser.parse_args()
    configs = [c for c, _ in args.compare or []] + [args.config]
    captions = args.captions or [
        osp.splitext(osp.basename(c))[0] for c in configs
    ]
    if args.compare and len(captions) != len(configs):
        parser.error(
            f'--captions needs {len(configs)} names (the --compare models, '
            f'then this one), got {len(captions)}'
        )
    model, cfg = vis.load_model(
        args.config, args.checkpoint, args.device, args.cfg_options
    )
    inputs, samples, picture = vis.prepare_image(cfg, model, args.image)
    inputs = inputs.to(args.device)
    if 'roi_head' in cfg.model:
        boxes, labels, coarse, steps = vis.instance_steps(
            model, inputs, samples, args.max_dets
        )
        files = vis.draw_instance(
            picture, boxes, labels, coarse, steps, args.out
        )
    else:
        coarse, steps = vis.semantic_steps(model, inputs)
        files = vis.draw_semantic(picture, coarse, steps, args.out)
    if args.compare:
        panels = []
        for config, checkpoint in args.compare:
            other, other_cfg = vis.load_model(config, checkpoint, args.device)
            panels.append(vis.predict_overlay(other, other_cfg, args.image))
            del other
        panels.append(vis.predict_overlay(model, cfg, args.image))
        if args.crop:
            x0, y0, x1, y1 = args.crop
            height, width = panels[0].shape[:2]
            panels = [p[y0:y1, x0:x1].copy() for p in panels]
            if panels[0].size == 0:
                parser.error(
                    f'--crop {x0} {y0} {x1} {y1} leaves nothing of the '
                    f'{width}x{height} image'
                )
        panels = [vis.caption(p, c) for p, c in zip(panels, captions)]
        path = osp.join(args.out, 'comparison.png')
        os.makedirs(args.out, exist_ok=True)
        write_image(path, np.concatenate(panels, axis=1))
        files.append(path)
    for f in files:
        print(f)


if __name__ == '__main__':
    run_cli(main)
