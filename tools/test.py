"""Evaluate a checkpoint on the config's test split.

Examples:
    python tools/test.py CONFIG CHECKPOINT --show-dir vis
    bash tools/dist_test.sh CONFIG CHECKPOINT 4
"""

import argparse
import os
import os.path as osp

from mmengine.runner import Runner

import mmpointrend  # noqa: F401  (checkpoint-loading fix for torch >= 2.6)
from mmpointrend.engine.runner_setup import (
    UsageError,
    add_common_args,
    die_with_parent,
    finish_distributed,
    load_config,
    run_cli,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--show-dir',
        help='folder for prediction images (drawn by the visualization hook)',
    )
    parser.add_argument(
        '--out', help='dump raw predictions to this folder (mmseg format)'
    )
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test-time augmentation with the config's tta_pipeline and "
        'tta_model (multi-scale + flip for the semantic configs)',
    )
    add_common_args(parser)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.launcher == 'pytorch':
        die_with_parent()
    return args


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint {args.checkpoint} not found; give the path of a '
            '.pth file'
        )
    # Every weight of an evaluated model must come from the checkpoint.
    cfg = load_config(
        args.config,
        args.work_dir,
        args.cfg_options,
        args.launcher,
        min_fit=1.0,
    )
    cfg.load_from = args.checkpoint
    if args.tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
        if missing:
            raise UsageError(
                f'--tta needs {missing} in the config (see configs/_base_/'
                'datasets/synthetic_seg.py, or mmseg dataset bases)'
            )
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.show_dir:
        hook = cfg.default_hooks.get('visualization')
        if hook is None:
            raise KeyError(
                'the config has no default_hooks.visualization; --show-dir '
                'needs mmseg/mmdet SegVisualizationHook/DetVisualizationHook'
            )
        hook.draw = True
        hook.interval = 1
        cfg.visualizer.save_dir = args.show_dir
    if args.out:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    runner = Runner.from_cfg(cfg)
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    run_cli(main)
