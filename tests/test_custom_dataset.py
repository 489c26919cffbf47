"""docs/custom_dataset.md end to end, with the real tools.

Its configs train (and fine-tune from a checkpoint of another class count)
on a dataset of other classes and counts than any shipped config.

The dataset is the synthetic scenes relabelled to two object classes
('round': stars, polygons and rings; 'long': bars), written in the two
layouts the tutorial describes (label PNGs; a COCO json).
"""

from __future__ import annotations

import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmpointrend.checkpoint.loading import load_checkpoint_file
from mmpointrend.dataset_makers import generate_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEM = 'configs/custom_dataset/pointrend_fpn_r18-slim_2xb4-600_my-dataset-256x256.py'
INS = 'configs/custom_dataset/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_my-dataset.py'
SYNTHETIC_SEM = (
    'configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py'
)
#: synthetic label -> tutorial label (0 background, 1 round, 2 long)
RELABEL = np.array([0, 1, 1, 2, 1], np.uint8)

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def my_dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('my_dataset'))
    generate_synthetic_dataset(root, num_train=4, num_val=2, size=256, seed=4)
    for split in ('train', 'val'):
        folder = osp.join(root, 'ann_dir', split)
        for name in os.listdir(folder):
            label = cv2.imread(osp.join(folder, name), cv2.IMREAD_UNCHANGED)
            cv2.imwrite(osp.join(folder, name), RELABEL[label])
        path = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(path) as f:
            coco = json.load(f)
        for ann in coco['annotations']:
            ann['category_id'] = int(RELABEL[ann['category_id']])
        coco['categories'] = [
            dict(id=1, name='round'),
            dict(id=2, name='long'),
        ]
        with open(path, 'w') as f:
            json.dump(coco, f)
    return root


def _train(config, work_dir, *options):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    cmd = [
        sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'param_scheduler.0.end=1',
        *options,
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def _roots(root, *loaders):
    return [f'{loader}.dataset.data_root={root}' for loader in loaders]


def test_semantic_tutorial_trains_and_fine_tunes(my_dataset, tmp_path):
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    # a checkpoint of another class count (the 5 synthetic classes)
    pre = str(tmp_path / 'pretrained')
    synthetic = osp.dirname(my_dataset)
    generate_synthetic_dataset(
        osp.join(synthetic, 'five'), num_train=2, num_val=1, size=256
    )
    _train(
        SYNTHETIC_SEM,
        pre,
        *_roots(osp.join(synthetic, 'five'), *loaders),
        'param_scheduler.1.begin=1',
        'param_scheduler.1.end=2',
    )
    work = str(tmp_path / 'work')
    out = _train(
        SEM,
        work,
        *_roots(my_dataset, *loaders),
        'param_scheduler.1.begin=1',
        'param_scheduler.1.end=2',
        f'load_from={osp.join(pre, "iter_2.pth")}',
    )
    # the class-specific layers are reported and keep their initialisation
    print(re.search(r'checkpoint covers .*', out).group(0))
    skipped = re.search(r'not loaded \(another shape\): ([^;]*);', out)
    assert skipped, out[-4000:]
    assert 'decode_head.0.conv_seg' in skipped.group(1)
    assert 'decode_head.1.mlp' in skipped.group(1)
    assert 'backbone' not in skipped.group(1)
    # mmseg's per-class table names the tutorial's classes
    for name in ('background', 'round', 'long'):
        assert re.search(rf'\|\s*{name}\s*\|', out), out[-4000:]
    ckpt = load_checkpoint_file(osp.join(work, 'iter_2.pth'))
    assert ckpt['meta']['dataset_meta']['classes'] == (
        'background',
        'round',
        'long',
    )
    assert (
        ckpt['state_dict']['decode_head.1.mlp.predictor.weight'].shape[0] == 3
    )


def test_instance_tutorial_trains(my_dataset, tmp_path):
    ann = osp.join(my_dataset, 'annotations', 'instances_val.json')
    work = str(tmp_path / 'ins')
    out = _train(
        INS,
        work,
        *_roots(my_dataset, 'train_dataloader', 'val_dataloader'),
        f'val_evaluator.ann_file={ann}',
        'param_scheduler.1.end=2',
    )
    assert 'coco/segm_mAP' in out and 'loss_point' in out, out[-4000:]
    ckpt = load_checkpoint_file(osp.join(work, 'iter_2.pth'))
    assert ckpt['meta']['dataset_meta']['classes'] == ('round', 'long')
    state = ckpt['state_dict']
    assert state['roi_head.bbox_head.fc_cls.weight'].shape[0] == 3  # + bg
    assert state['roi_head.point_head.mlp.predictor.weight'].shape[0] == 2


def test_doc_shows_the_tested_configs():
    """The tutorial's code blocks are the tested files (same syntax tree)."""
    import ast

    doc = open(osp.join(ROOT, 'docs', 'custom_dataset.md')).read()
    blocks = re.findall(r'```python\n(.*?)```', doc, re.S)
    assert len(blocks) == 2
    for block, path in zip(blocks, (SEM, INS)):
        with open(osp.join(ROOT, path)) as f:
            tree = ast.dump(ast.parse(f.read()))
        assert ast.dump(ast.parse(block)) == tree, path
