"""The README's main job: data -> 2-process training -> evaluation.

1. writes the synthetic dataset to ``--data-root`` when it is not there;
2. trains the small CPU config with ``tools/dist_train.sh`` on ``--nproc``
   processes (gloo without CUDA, NCCL with GPUs), validating at the end;
3. evaluates the final checkpoint with ``tools/test.py`` and writes
   prediction images;
4. prints where the checkpoint, logs and images are.

Example:
    bash tools/run.sh demo            # via the set-up wrapper
    python tools/demo.py --iters 200  # inside a ready environment
"""

import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'semantic': 'configs/synthetic/'
    'pointrend_fpn_r18-slim_2xb4-1500_synthetic-160x160.py',
    'instance': 'configs/synthetic/'
    'pointrend_mask-rcnn_r18-slim_fpn_2xb2-650_synthetic-320.py',
}
#: Training images the demo generates: enough that the small models learn
#: shapes rather than memorise textures (about 40 s to write).
NUM_TRAIN = 400
#: Detections drawn by the instance demo: the threshold a user would pick
#: (the validation metrics use every detection).
SCORE_THR = 0.5
#: The metric printed at the end for each task.
METRICS = {
    'semantic': ('mIoU', 'mBIoU'),
    'instance': ('coco/segm_mAP', 'coco/boundary_mAP', 'coco/bbox_mAP'),
}


def _stream(cmd: list[str], env: dict) -> None:
    """Run a command, showing its output live; stop the demo on failure."""
    print('$ ' + ' '.join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if proc.returncode != 0:
        sys.exit(
            f'step failed with exit code {proc.returncode}: {" ".join(cmd)}'
        )


def _positive_int(text: str) -> int:
    """Argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected a positive integer, got {text!r}'
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'must be a positive integer (>= 1), got {value}'
        )
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--task', choices=sorted(CONFIGS), default='semantic')
    parser.add_argument('--data-root', default='data/synthetic')
    parser.add_argument(
        '--num-train',
        type=_positive_int,
        default=NUM_TRAIN,
        help='training images to generate (validation: 16)',
    )
    parser.add_argument('--work-dir', help='defaults to work_dirs/demo_<task>')
    parser.add_argument(
        '--nproc', type=_positive_int, default=2, help='training processes'
    )
    parser.add_argument(
        '--iters',
        type=_positive_int,
        help='override the schedule length (semantic 1500, instance 650)',
    )
    args = parser.parse_args()

    from mmpointrend.dataset_makers import (
        dataset_is_complete,
        generate_synthetic_dataset,
    )
    from mmpointrend.engine.runner_setup import schedule_options

    start = time.perf_counter()
    data_root = osp.abspath(osp.join(ROOT, args.data_root))
    if dataset_is_complete(data_root, num_train=args.num_train):
        print(f'[1/4] dataset found at {data_root}')
    else:
        print(f'[1/4] writing the synthetic dataset to {data_root}')
        print(generate_synthetic_dataset(data_root, num_train=args.num_train))

    config = CONFIGS[args.task]
    work_dir = osp.abspath(
        osp.join(ROOT, args.work_dir or f'work_dirs/demo_{args.task}')
    )
    options = [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
    ]
    if args.task == 'instance':
        ann = osp.join(data_root, 'annotations', 'instances_val.json')
        options += [
            f'val_evaluator.ann_file={ann}',
            f'test_evaluator.ann_file={ann}',
        ]
    if args.iters is not None:
        options += schedule_options(args.iters, poly=args.task == 'semantic')
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=ROOT)
    print(f'[2/4] training {config} on {args.nproc} processes')
    _stream(
        [
            'bash',
            'tools/dist_train.sh',
            config,
            str(args.nproc),
            '--work-dir',
            work_dir,
            '--cfg-options',
            *options,
        ],
        env,
    )
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()

    print(f'[3/4] evaluating {checkpoint}')
    test_dir = osp.join(work_dir, 'test')
    _stream(
        [
            sys.executable,
            'tools/test.py',
            config,
            checkpoint,
            '--work-dir',
            test_dir,
            '--show-dir',
            osp.join(work_dir, 'predictions'),
            '--cfg-options',
            *options,
        ],
        env,
    )
    metrics_files = sorted(
        glob.glob(osp.join(test_dir, '*', '*.json')), key=osp.getmtime
    )
    metrics = {}
    if metrics_files:
        with open(metrics_files[-1]) as f:
            metrics = json.load(f)
    images = glob.glob(
        osp.join(work_dir, 'predictions', '**', '*.png'), recursive=True
    )
    print('[4/4] predicting a few validation images with mmpointrend.apis')
    from mmpointrend.apis import PointRendInferencer

    val_dir = osp.join(data_root, 'img_dir', 'val')
    sample = sorted(glob.glob(osp.join(val_dir, '*.png')))[:4]
    inferencer = PointRendInferencer(
        osp.join(ROOT, config), weights=checkpoint, device='cpu'
    )
    infer_dir = osp.join(work_dir, 'inference')
    kwargs = dict(out_dir=infer_dir)
    if args.task == 'instance':
        kwargs.update(no_save_pred=False, pred_score_thr=SCORE_THR)
    inferencer(sample, **kwargs)
    print(f'\n=== demo finished in {time.perf_counter() - start:.0f} s ===')
    for key in METRICS[args.task]:
        print(f'{key} (val): {metrics.get(key, "n/a")}')
    print(f'checkpoint:       {checkpoint}')
    print(f'training logs:    {work_dir}')
    print(f'prediction PNGs:  {len(images)} under {work_dir}/predictions')
    print(f'inference API:    {len(sample)} images under {infer_dir}/vis')


if __name__ == '__main__':
    main()
