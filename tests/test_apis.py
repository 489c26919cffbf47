"""Layer 4: the inference API and the image demo, as a user runs them."""

from __future__ import annotations

import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import INS_CONFIG, SEM_CONFIG, run_tool

from mmpointrend.apis import (
    PointRendDetInferencer,
    PointRendInferencer,
    PointRendSegInferencer,
    inference_model,
    init_model,
)
from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.dataset_makers import generate_synthetic_dataset
from mmpointrend.engine import CheckpointMismatchError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(root, num_train=1, num_val=2, size=96, seed=9)
    return osp.join(root, 'img_dir', 'val')


def _weights(config, path, seed=0):
    torch.manual_seed(seed)
    model, _ = build_model_from_config(config)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp('weights')
    return dict(
        sem=_weights(SEM_CONFIG, folder / 'sem.pth'),
        ins=_weights(INS_CONFIG, folder / 'ins.pth'),
    )


def test_init_and_inference_on_files_and_arrays(images, weights):
    files = sorted(glob.glob(osp.join(images, '*.png')))
    model = init_model(SEM_CONFIG, weights['sem'])
    assert model.dataset_meta['classes'][1] == 'star'  # from the config
    one = inference_model(model, files[0])
    many = inference_model(model, files)
    array = inference_model(
        model, np.ascontiguousarray(__import__('cv2').imread(files[0]))
    )
    assert one.pred_sem_seg.data.shape == (1, 96, 96)
    assert len(many) == 2
    assert torch.equal(one.pred_sem_seg.data, array.pred_sem_seg.data)
    detector = init_model(INS_CONFIG, weights['ins'])
    result = inference_model(detector, files[0])
    assert result.pred_instances.masks.shape[1:] == (96, 96)


def test_init_model_refuses_weights_of_another_model(weights):
    with pytest.raises(CheckpointMismatchError, match='fits only'):
        init_model(INS_CONFIG, weights['sem'])


def test_inferencer_picks_the_task(weights):
    assert isinstance(
        PointRendInferencer(SEM_CONFIG, weights['sem'], device='cpu'),
        PointRendSegInferencer,
    )
    assert isinstance(
        PointRendInferencer(INS_CONFIG, weights['ins'], device='cpu'),
        PointRendDetInferencer,
    )


@pytest.mark.parametrize('task', ['sem', 'ins'])
def test_image_demo_on_a_folder(images, weights, tmp_path, task):
    config = SEM_CONFIG if task == 'sem' else INS_CONFIG
    out = tmp_path / 'out'
    proc = run_tool(
        'demo/image_demo.py',
        images,
        config,
        '--weights',
        weights[task],
        '--out-dir',
        out,
        '--show-points',
        '--score-thr',
        '0',
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(glob.glob(str(out / 'vis' / '*'))) == 2
    assert glob.glob(str(out / 'points' / '*' / '*.png'))
    if task == 'sem':
        labels = glob.glob(str(out / 'pred' / '*.png'))
        assert len(labels) == 2
    else:
        preds = sorted(glob.glob(str(out / 'preds' / '*.json')))
        assert len(preds) == 2
        pred = json.load(open(preds[0]))
        assert {'labels', 'scores', 'bboxes', 'masks'} <= set(pred)
        assert all('counts' in m for m in pred['masks'])


def test_image_demo_errors(tmp_path, images):
    proc = run_tool('demo/image_demo.py', tmp_path / 'nope.png', SEM_CONFIG)
    assert proc.returncode == 2 and 'does not exist' in proc.stderr
    proc = run_tool('demo/image_demo.py', images, 'pointrend_fpn_r50_city')
    assert proc.returncode == 2 and 'Did you mean' in proc.stderr
