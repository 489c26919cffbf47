"""Train a model from a config with an MMEngine runner.

Examples:
    python tools/train.py configs/synthetic/\
pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py
    bash tools/dist_train.sh CONFIG 4 --amp
"""

import argparse
import os
import sys

import torch
from mmengine.runner import Runner

import mmpointrend  # noqa: F401  (checkpoint-loading fix for torch >= 2.6)
from mmpointrend.engine.runner_setup import (
    add_common_args,
    die_with_parent,
    finish_distributed,
    load_config,
    run_cli,
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
        '--amp',
        action='store_true',
        help="mixed-precision training: MMEngine's AmpOptimWrapper (fp16 "
        'with loss scaling) on GPUs, mmpointrend.CPUAutocastOptimWrapper '
        '(bf16 autocast) on CPUs',
    )
    add_common_args(parser)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.launcher == 'pytorch':
        die_with_parent()
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(
        args.config, args.work_dir, args.cfg_options, args.launcher
    )
    if args.amp:
        wrapper = cfg.optim_wrapper
        kind = wrapper.get('type', 'OptimWrapper')
        if kind not in ('OptimWrapper', 'mmengine.OptimWrapper'):
            print(f'--amp: keeping the config optim_wrapper type {kind}')
        elif torch.cuda.is_available():
            wrapper.type = 'AmpOptimWrapper'
            wrapper.setdefault('loss_scale', 'dynamic')
        elif 'rpn_head' in cfg.model or 'roi_head' in cfg.model:
            print(
                'error: --amp on a CPU cannot train detectors: mmcv 2.1 has '
                'no bf16/fp16 CPU kernel for NMS (used by the RPN). Use '
                '--amp on a GPU, or train in fp32 here.',
                file=sys.stderr,
            )
            sys.exit(2)
        else:
            wrapper.type = 'mmpointrend.CPUAutocastOptimWrapper'
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
    run_cli(main)
