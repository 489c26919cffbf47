"""PointSup: point annotations through mmdet's pipeline, and the losses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmpointrend.dataset_makers import generate_synthetic_dataset
from mmpointrend.dataset_makers.point_annotations import (
    sample_point_annotations,
)
from mmpointrend.models.roi_heads.point_targets import (
    annotated_points,
    point_bce,
)
from mmpointrend.registry import DATASETS

CONFIG = 'configs/synthetic/pointsup-implicit-pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    generate_synthetic_dataset(str(root), num_train=3, num_val=1, size=96)
    ann = root / 'annotations'
    coco = json.loads((ann / 'instances_train.json').read_text())
    points = sample_point_annotations(coco, num_points=10, seed=0)
    (ann / 'instances_train_points_n10.json').write_text(json.dumps(points))
    return str(root), points


def _dataset(data_root, pipeline):
    init_default_scope('mmdet')
    cfg = Config.fromfile(CONFIG).train_dataloader.dataset
    cfg.data_root = data_root
    cfg.pipeline = pipeline
    return DATASETS.build(cfg)


def test_points_follow_resize_and_flip(data_root):
    root, points = data_root
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
        dict(type='mmpointrend.LoadPointAnnotations'),
        dict(type='Resize', scale_factor=2.0, keep_ratio=True),
        dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        dict(type='mmpointrend.PackPointSupInputs'),
    ]
    dataset = _dataset(root, pipeline)
    item = dataset[0]
    gt = item['data_samples'].gt_instances
    img_id = item['data_samples'].img_id
    anns = [
        a
        for a in points['annotations']
        if a['image_id'] == img_id and not a.get('iscrowd')
    ]
    assert len(gt) == len(anns) > 0
    width = 96 * 2
    for got, labels, ann in zip(gt.point_coords, gt.point_labels, anns):
        src = np.asarray(ann['point_coords'], np.float32) + 0.5
        expected = np.stack([width - 2 * src[:, 0], 2 * src[:, 1]], 1)
        assert np.allclose(got.numpy(), expected, atol=1e-3)
        assert labels.tolist() == ann['point_labels']


def test_subsampling_keeps_labels_with_their_points(data_root):
    root, points = data_root
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
        dict(type='mmpointrend.LoadPointAnnotations', num_points=4),
        dict(type='mmpointrend.PackPointSupInputs'),
    ]
    item = _dataset(root, pipeline)[0]
    gt = item['data_samples'].gt_instances
    img_id = item['data_samples'].img_id
    anns = [a for a in points['annotations'] if a['image_id'] == img_id]
    assert gt.point_coords.shape[1:] == (4, 2)
    for coords, labels, ann in zip(gt.point_coords, gt.point_labels, anns):
        table = {
            (x + 0.5, y + 0.5): lab
            for (x, y), lab in zip(ann['point_coords'], ann['point_labels'])
        }
        for (x, y), lab in zip(coords.tolist(), labels.tolist()):
            assert table[(round(x, 3), round(y, 3))] == lab


def test_annotated_points_relative_to_the_roi_and_ignored_outside():
    gt = InstanceData(
        point_coords=torch.tensor([[[20.0, 20.0], [5.0, 5.0], [30.0, 10.0]]]),
        point_labels=torch.tensor([[1, 0, 1]]),
    )

    class Result:
        pos_assigned_gt_inds = torch.tensor([0])

    boxes = [torch.tensor([[10.0, 10.0, 30.0, 30.0]])]
    rel, labels = annotated_points(boxes, [Result()], [gt])
    assert torch.allclose(
        rel[0], torch.tensor([[0.5, 0.5], [-0.25, -0.25], [1.0, 0.0]])
    )
    assert labels.tolist() == [[1, -1, 1]]  # the second point is outside
    with pytest.raises(KeyError, match='point annotations'):
        annotated_points(boxes, [Result()], [InstanceData()])


def test_point_bce_ignores_unlabelled_points():
    logits = torch.tensor([[2.0, -1.0, 100.0]], requires_grad=True)
    labels = torch.tensor([[1, 0, -1]])
    loss = point_bce(logits, labels)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])
    )
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert logits.grad[0, 2] == 0
    assert point_bce(logits, torch.full((1, 3), -1)).item() == 0


def test_a_training_step_on_point_annotations(data_root):
    from mmpointrend.apis import build_model

    root, _ = data_root
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmdet')
    dataset = _dataset(root, cfg.train_dataloader.dataset.pipeline)
    model, _ = build_model(CONFIG)
    model.init_weights()
    model.train()
    batch = model.data_preprocessor(
        dict(
            inputs=[dataset[i]['inputs'] for i in range(2)],
            data_samples=[dataset[i]['data_samples'] for i in range(2)],
        ),
        True,
    )
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert {'loss_point', 'loss_params'} <= set(losses)
    total = sum(
        v if torch.is_tensor(v) else sum(v)
        for k, v in losses.items()
        if k.startswith('loss')
    )
    assert torch.isfinite(total) and losses['loss_point'] > 0
    total.backward()
