"""Train a model from a config with an MMEngine runner.

Examples:
    python tools/train.py configs/synthetic/\
pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py
    bash tools/dist_train.sh CONFIG 4 --amp
"""

import argparse
import os

import torch
from mmengine.runner import Runner

import mmpointrend  # noqa: F401  (checkpoint-loading fix for torch >= 2.6)
from mmpointrend.apis import (
    add_common_args,
    finish_distributed,
    load_config,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from CHECKPOINT, or from the latest one in the work '
        'dir when no path is given',
    )
    parser.add_argument(
        '--amp', action='store_true', help='mixed-precision training'
    )
    add_common_args(parser)
    args = parser.parse_args()
    if args.amp and not torch.cuda.is_available():
        parser.error(
            "--amp needs a CUDA GPU (MMEngine's AmpOptimWrapper); drop --amp "
            'to train in fp32 on this machine'
        )
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(
        args.config, args.work_dir, args.cfg_options, args.launcher
    )
    if args.amp:
        wrapper = cfg.optim_wrapper
        if wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print('AMP is already enabled in the config')
        else:
            wrapper.type = 'AmpOptimWrapper'
            wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    runner = Runner.from_cfg(cfg)
    runner.train()
    finish_distributed()


if __name__ == '__main__':
    main()
