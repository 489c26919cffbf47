"""Bad inputs found in the second robustness round.

Each ends correct or in a clear error naming the file/annotation/argument
and the fix, and nothing already written is lost.
"""

from __future__ import annotations

import copy
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from payloads import INS_CONFIG, SEM_CONFIG, run_tool

from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.apis.folder_inference import check_out_dir, list_images
from mmpointrend.dataset_makers import generate_synthetic_dataset
from mmpointrend.dataset_makers.point_annotations import (
    sample_point_annotations,
)
from mmpointrend.models.roi_heads.mask_heads.coarse_mask_head import (
    paste_masks_into_image,
)
from mmpointrend.models.roi_heads.point_targets import annotated_points
from mmpointrend.registry import DATASETS, MODELS

POINTSUP = 'configs/synthetic/pointsup-implicit-pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py'


# -- PointSup annotations ---------------------------------------------------
@pytest.fixture(scope='module')
def points_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('pointsup')
    generate_synthetic_dataset(str(root), num_train=2, num_val=1, size=64)
    coco = json.loads(
        (root / 'annotations' / 'instances_train.json').read_text()
    )
    return str(root), sample_point_annotations(coco, num_points=6, seed=0)


def _pointsup_dataset(root, points, pipeline=None):
    ann = osp.join(root, 'annotations', 'instances_train_points_n10.json')
    with open(ann, 'w') as f:
        json.dump(points, f)
    init_default_scope('mmdet')
    cfg = Config.fromfile(POINTSUP).train_dataloader.dataset
    cfg.data_root = root
    if pipeline is not None:
        cfg.pipeline = pipeline
    return DATASETS.build(cfg), ann


def _first_object(points):
    return next(a for a in points['annotations'] if not a.get('iscrowd'))


@pytest.mark.parametrize(
    'field,value,match',
    [
        ('point_labels', 'all', '0/1 values, got str'),
        ('point_labels', 7, '0/1 values, got int'),
        ('point_labels', [2] * 6, r'got \[2, 2'),
        ('point_labels', [0.5] * 6, r'got \[0.5'),
        ('point_labels', ['1'] * 6, r"got \['1'"),
        ('point_labels', [True] * 6, r'got \[True'),
        ('point_labels', [1] * 5, '6 point_coords but 5 point_labels'),
        ('point_coords', [1, 2, 3], r'list of \[x, y\]'),
        ('point_coords', [['a', 'b']] * 6, r'list of \[x, y\]'),
        ('point_coords', [[1, float('nan')]] * 6, r'list of \[x, y\]'),
        ('point_coords', None, 'has point_labels but no point_coords'),
        ('point_labels', None, 'has point_coords but no point_labels'),
    ],
)
def test_bad_point_annotations_are_named(points_root, field, value, match):
    root, points = points_root
    points = copy.deepcopy(points)
    ann = _first_object(points)
    if value is None:
        del ann[field]
    else:
        ann[field] = value
    with pytest.raises(ValueError, match=match) as info:
        _pointsup_dataset(root, points)
    message = str(info.value)
    assert f'annotation {ann["id"]}' in message
    assert 'instances_train_points_n10.json' in message


@pytest.mark.parametrize('num_points', [2.5, '5', True, 0])
def test_load_point_annotations_num_points(num_points):
    from mmpointrend.datasets import LoadPointAnnotations

    with pytest.raises((TypeError, ValueError), match='num_points'):
        LoadPointAnnotations(num_points=num_points)


def test_different_point_counts_pad_with_ignored_points(points_root):
    """5 points on one object, 3 on another, 6 in the other image.

    The arrays are padded with label -1 and training runs.
    """
    root, points = points_root
    points = copy.deepcopy(points)
    objects = [a for a in points['annotations'] if not a.get('iscrowd')]
    first_image = objects[0]['image_id']
    in_first = [a for a in objects if a['image_id'] == first_image]
    assert len(in_first) >= 2
    for i, ann in enumerate(in_first):
        count = 3 if i == 0 else 5
        ann['point_coords'] = ann['point_coords'][:count]
        ann['point_labels'] = ann['point_labels'][:count]
    dataset, _ = _pointsup_dataset(root, points)
    index = next(
        i for i in range(len(dataset))
        if dataset.get_data_info(i)['img_id'] == first_image
    )  # fmt: skip
    gt = dataset[index]['data_samples'].gt_instances
    counts = (gt.point_labels >= 0).sum(1).tolist()
    assert sorted(counts) == [3] + [5] * (len(in_first) - 1)
    assert gt.point_labels.shape[1] == 5
    # across images: a batch with 5- and 6-wide point arrays trains
    model, _ = build_model_from_config(POINTSUP)
    model.init_weights()
    model.train()
    batch = model.data_preprocessor(
        dict(
            inputs=[dataset[i]['inputs'] for i in range(2)],
            data_samples=[dataset[i]['data_samples'] for i in range(2)],
        ),
        True,
    )
    widths = {
        s.gt_instances.point_labels.shape[1] for s in batch['data_samples']
    }
    assert widths == {5, 6}
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert torch.isfinite(losses['loss_point']) and losses['loss_point'] > 0


def test_annotated_points_pads_across_images():
    class Result:
        pos_assigned_gt_inds = torch.tensor([0])

    gts = [
        InstanceData(
            point_coords=torch.full((1, n, 2), 15.0),
            point_labels=torch.ones(1, n, dtype=torch.long),
        )
        for n in (2, 4)
    ]
    boxes = [torch.tensor([[10.0, 10.0, 30.0, 30.0]])] * 2
    rel, labels = annotated_points(boxes, [Result(), Result()], gts)
    assert rel.shape == (2, 4, 2)
    assert labels.tolist() == [[1, 1, -1, -1], [1, 1, 1, 1]]
    assert torch.allclose(rel[:, :2], torch.full((2, 2, 2), 0.25))


# -- pasting: the only detection outside the image ----------------------------
@pytest.mark.parametrize(
    'box',
    [
        [300.0, 300.0, 400.0, 380.0],
        [-90.0, -80.0, -10.0, -5.0],
        [float('nan'), 0.0, 10.0, 10.0],
        [0.0, 0.0, float('inf'), float('inf')],
    ],
)
def test_only_detection_outside_the_image_gives_an_empty_mask(box):
    results = InstanceData(
        bboxes=torch.tensor([box]),
        labels=torch.tensor([0]),
        scores=torch.ones(1),
    )
    meta = dict(ori_shape=(64, 96), scale_factor=(1.0, 1.0))
    paste_masks_into_image(torch.ones(1, 1, 28, 28), results, meta, 0.5, True)
    assert results.masks.shape == (1, 64, 96) and not results.masks.any()


# -- components and configs ----------------------------------------------------
@pytest.mark.parametrize(
    'kwargs,match',
    [
        (dict(num_fcs=-1), 'num_fcs=-1'),
        (dict(num_fcs=2.5), 'num_fcs=2.5'),
        (dict(params_l2=-1e-5), 'params_l2=-1e-05'),
        (dict(params_l2=float('nan')), 'params_l2=nan'),
        (dict(in_channels=0), 'in_channels=0'),
    ],
)
def test_implicit_point_head_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(
            dict(type='mmpointrend.ImplicitPointHead', num_classes=3, **kwargs)
        )


@pytest.mark.parametrize(
    'options,match',
    [
        ({'model.decode_head.1.channels': -1}, 'channels=-1'),
        ({'model.decode_head.1.num_fcs': -2}, 'num_fcs=-2'),
        (
            {'model.decode_head.0.in_channels': [32, 32, 32, 32]},
            r'decode_head\[0\].*in_channels=\[32, 32, 32, 32\].*outputs 64',
        ),
        (
            {'model.test_cfg.subdivison_steps': 3},
            "'subdivison_steps' .did you mean 'subdivision_steps'",
        ),
        ({'model.test_cfg.crop': (8, 8)}, "'crop' .did you mean 'crop_size'"),
        (
            {'model.train_cfg.foo': 1},
            r"model.train_cfg has unknown key\(s\) 'foo'",
        ),
    ],
)
def test_semantic_config_mistakes(options, match):
    with pytest.raises(ValueError, match=match):
        build_model_from_config(SEM_CONFIG, options)


@pytest.mark.parametrize(
    'options,match',
    [
        (
            {'model.test_cfg.rcnn.subdivision_num_point': 9},
            "did you mean 'subdivision_num_points'",
        ),
        (
            {'model.test_cfg.rcnn.mask_thr': 0.4},
            "did you mean 'mask_thr_binary'",
        ),
        (
            {'model.train_cfg.rcnn.num_points': 196},
            'belong to the point head',
        ),
        ({'model.train_cfg.rcnn.mask_sz': 28}, "did you mean 'mask_size'"),
    ],
)
def test_instance_config_mistakes(options, match):
    with pytest.raises(ValueError, match=match):
        build_model_from_config(INS_CONFIG, options)


# -- folder inference -------------------------------------------------------
def test_out_dir_inside_the_input_is_never_listed(tmp_path):
    images = tmp_path / 'images'
    (images / 'sub').mkdir(parents=True)
    for name in ('a.png', 'sub/b.jpg'):
        (images / name).write_bytes(b'x')
    out = images / 'preds'
    (out / 'sub').mkdir(parents=True)
    (out / 'a.png.png').write_bytes(b'x')  # a label PNG of an earlier run
    (out / 'sub' / 'b.jpg.png').write_bytes(b'x')
    root, found = list_images(str(images), exclude=str(out))
    assert found == ['a.png', osp.join('sub', 'b.jpg')]
    listing = tmp_path / 'list.txt'
    listing.write_text('images/a.png\nimages/preds/a.png.png\n')
    _, found = list_images(str(listing), exclude=str(out))
    assert found == ['a.png']


def test_symlinked_sub_folders_are_followed_once(tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / 'c.png').write_bytes(b'x')
    os.symlink(elsewhere, images / 'linked')
    os.symlink(images, elsewhere / 'loop')  # a cycle ends
    _, found = list_images(str(images))
    assert found == [osp.join('linked', 'c.png')]


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / 'preds'
    target.write_text('keep me')
    with pytest.raises(NotADirectoryError, match='is a file, not a folder'):
        check_out_dir(str(target))
    with pytest.raises(NotADirectoryError, match='is a file'):
        check_out_dir(str(target / 'below'))
    check_out_dir(str(tmp_path / 'new' / 'folder'))
    proc = run_tool(
        'tools/infer.py', SEM_CONFIG, str(tmp_path), '--out-dir', str(target)
    )
    assert proc.returncode == 2 and 'is a file' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert target.read_text() == 'keep me'


# -- ONNX export arguments -------------------------------------------------------
@pytest.mark.parametrize(
    'extra,match',
    [
        (['--shape', '0', '0'], 'must be positive'),
        (['--shape', '-4', '64'], 'must be positive'),
        (['--max-points', '0'], 'max-points must be >= 1'),
    ],
)
def test_export_refuses_bad_arguments_before_work(tmp_path, extra, match):
    out = tmp_path / 'm.onnx'
    proc = run_tool(
        'tools/deployment/export_onnx.py',
        SEM_CONFIG,
        '--out',
        str(out),
        *extra,
    )
    assert proc.returncode == 2 and match in proc.stderr, proc.stderr[-2000:]
    assert not out.exists()


def test_export_never_overwrites_without_force_nor_its_input(tmp_path):
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'weights')
    existing = tmp_path / 'old.onnx'
    existing.write_bytes(b'old')
    tool = 'tools/deployment/export_onnx.py'
    proc = run_tool(tool, SEM_CONFIG, str(ckpt), '--out', str(existing))
    assert proc.returncode == 2 and '--force' in proc.stderr
    assert existing.read_bytes() == b'old'
    for args in (
        [str(ckpt), '--out', str(ckpt), '--force'],
        ['--out', SEM_CONFIG, '--force'],
    ):
        proc = run_tool(tool, SEM_CONFIG, *args)
        assert proc.returncode == 2 and 'is the input' in proc.stderr
    assert ckpt.read_bytes() == b'weights'
    proc = run_tool(tool, SEM_CONFIG, '--out', str(tmp_path))
    assert proc.returncode == 2 and 'is a directory' in proc.stderr
