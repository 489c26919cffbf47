"""Layers 4-5: the real tools and MMEngine runners on the synthetic dataset.

Training runs through ``tools/train.py`` (train 2 iterations, validate, save,
resume), exactly as a user would start it; ``tools/dist_train.sh`` is
exercised by tests/distributed/.
"""

import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from mmpointrend.dataset_makers import generate_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    ROOT,
    'configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py',
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(root, num_train=4, num_val=2, size=256, seed=3)
    return root


def _options(data_root, work_dir, max_iters):
    return [
        '--work-dir',
        work_dir,
        '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'train_cfg.max_iters={max_iters}',
        'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=3',
        'default_hooks.logger.interval=1',
        'train_dataloader.batch_size=2',
        'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1',
        f'param_scheduler.1.end={max_iters}',
    ]


def _run(cmd, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    return output


def test_train_validate_save_resume_test(data_root, tmp_path):
    work = str(tmp_path / 'work')
    out = _run(
        [
            sys.executable,
            'tools/train.py',
            CONFIG,
            *_options(data_root, work, 2),
        ]
    )
    assert re.search(r'mIoU', out) and 'mBIoU' in out, out[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_2.pth')

    # --resume picks up iter_2.pth (optimizer, scheduler, message hub) under
    # torch's weights_only default and continues to iteration 4.
    out = _run(
        [
            sys.executable,
            'tools/train.py',
            CONFIG,
            '--resume',
            *_options(data_root, work, 4),
        ]
    )
    assert 'resumed' in out.lower(), out[-3000:]
    assert re.search(r'Iter\(train\) \[4/4\]', out), out[-3000:]
    assert osp.isfile(osp.join(work, 'iter_4.pth'))

    show = str(tmp_path / 'show')
    out = _run(
        [
            sys.executable,
            'tools/test.py',
            CONFIG,
            osp.join(work, 'iter_4.pth'),
            '--show-dir',
            show,
            *_options(data_root, str(tmp_path / 'test'), 4),
        ]
    )
    assert 'mIoU' in out
    assert glob.glob(osp.join(show, '**', '*.png'), recursive=True)

    # Multi-scale + flip test-time augmentation (mmseg's SegTTAModel).
    out = _run(
        [
            sys.executable,
            'tools/test.py',
            CONFIG,
            osp.join(work, 'iter_4.pth'),
            '--tta',
            *_options(data_root, str(tmp_path / 'tta'), 4),
        ]
    )
    # the trained weights reach the wrapped model (no key mismatch)
    assert 'do not match exactly' not in out and 'missing keys' not in out
    assert re.findall(r'mIoU: ([\d.]+)', out), out[-3000:]


INSTANCE_CONFIG = osp.join(
    ROOT,
    'configs/synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
)


def test_instance_train_validate_with_coco_metric(data_root, tmp_path):
    work = str(tmp_path / 'ins')
    ann = osp.join(data_root, 'annotations', 'instances_val.json')
    out = _run(
        [
            sys.executable,
            'tools/train.py',
            INSTANCE_CONFIG,
            '--work-dir',
            work,
            '--cfg-options',
            f'train_dataloader.dataset.data_root={data_root}',
            f'val_dataloader.dataset.data_root={data_root}',
            f'val_evaluator.ann_file={ann}',
            'train_cfg.max_iters=2',
            'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2',
            'default_hooks.logger.interval=1',
            'param_scheduler.0.end=1',
        ]
    )
    assert 'loss_point' in out and 'loss_mask' in out, out[-3000:]
    assert 'coco/segm_mAP' in out and 'coco/boundary_mAP' in out, out[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
