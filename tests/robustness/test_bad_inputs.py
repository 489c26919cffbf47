"""Bad inputs end in a correct result or a clear error naming cause and fix.

Layered like the rest of the suite: components (empty batches, tiny images,
all-ignore labels, degenerate boxes), configuration errors at build time,
data files (corrupt label maps, COCO mistakes), checkpoint files and
converters, and the command-line tools.
"""

from __future__ import annotations

import copy
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from payloads import INS_CONFIG, ROOT, SEM_CONFIG, data_options, run_tool

from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.models.roi_heads.mask_heads.coarse_mask_head import (
    paste_masks_into_image,
)
from mmpointrend.testing import demo_seg_batch


# -- components ----------------------------------------------------------
@pytest.fixture(scope='module')
def semantic():
    model, _ = build_model_from_config(SEM_CONFIG)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize(
    'shape', [(0, 3, 64, 64), (1, 3, 17, 23), (1, 3, 8, 8), (2, 3, 1, 1)]
)
def test_tensor_mode_empty_batches_and_tiny_images(semantic, shape):
    with torch.no_grad():
        out = semantic(torch.randn(*shape), mode='tensor')
    assert out.shape == (shape[0], 5, *shape[2:])
    assert torch.isfinite(out).all()


def _sigmoid_model():
    options = {}
    for i in (0, 1):
        options[f'model.decode_head.{i}.num_classes'] = 2
        options[f'model.decode_head.{i}.out_channels'] = 1
        options[f'model.decode_head.{i}.loss_decode'] = dict(
            type='CrossEntropyLoss', use_sigmoid=True
        )
    model, _ = build_model_from_config(SEM_CONFIG, options)
    model.init_weights()
    return model


@pytest.mark.parametrize('mode', ['softmax', 'sigmoid'])
def test_all_ignore_batch_gives_zero_connected_losses(semantic, mode):
    model = copy.deepcopy(semantic) if mode == 'softmax' else _sigmoid_model()
    model.train()
    classes = 5 if mode == 'softmax' else 2
    inputs, samples = demo_seg_batch(2, (64, 64), classes, ignore_fraction=1)
    assert all((s.gt_sem_seg.data == 255).all() for s in samples)
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert total.item() == 0.0 and total.requires_grad
    total.backward()
    # A partly labelled batch still trains normally.
    inputs, samples = demo_seg_batch(2, (64, 64), classes, ignore_fraction=0.5)
    losses = model.loss(inputs, samples)
    assert all(
        torch.isfinite(v) and v.item() > 0
        for k, v in losses.items()
        if 'loss' in k
    )


def _detections(boxes, labels):
    return InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        labels=torch.tensor(labels),
        scores=torch.ones(len(labels)),
    )


def test_pasting_outside_nan_and_degenerate_boxes():
    boxes = [
        [10, 10, 40, 30],  # normal
        [300, 300, 400, 380],  # entirely outside (right, below)
        [-90, -80, -10, -5],  # entirely outside (left, above)
        [20, 20, 20, 20],  # zero size
        [float('nan'), 0, 10, 10],  # NaN
        [0, 0, float('inf'), 50],  # infinite
    ]
    results = _detections(boxes, [0] * len(boxes))
    probs = torch.ones(len(boxes), 1, 28, 28)
    meta = dict(ori_shape=(64, 96), scale_factor=(1.0, 1.0))
    paste_masks_into_image(probs, results, meta, 0.5, rescale=True)
    masks = results.masks
    assert masks.shape == (6, 64, 96)
    assert masks[0, 10:30, 10:40].all() and masks[0].sum() == 20 * 30
    assert not masks[1:].any()


@pytest.fixture(scope='module')
def detector():
    model, _ = build_model_from_config(INS_CONFIG)
    model.init_weights()
    return model.eval()


def test_refinement_with_degenerate_boxes_and_zero_detections(detector):
    feats = detector.extract_feat(torch.randn(2, 3, 64, 64))
    head = detector.roi_head
    metas = [
        dict(ori_shape=(64, 64), img_shape=(64, 64), scale_factor=(1, 1))
    ] * 2
    with torch.no_grad():
        results = head.predict_mask(
            feats,
            metas,
            [
                _detections(
                    [[5, 5, 5, 5], [-50, -50, -10, -10], [0, 0, 64, 64]],
                    [0, 1, 2],
                ),
                _detections([], []).__class__(
                    bboxes=torch.zeros(0, 4),
                    labels=torch.zeros(0, dtype=torch.long),
                    scores=torch.zeros(0),
                ),
            ],
        )
    assert results[0].masks.shape == (3, 64, 64)
    assert not results[0].masks[1].any()
    assert results[1].masks.shape == (0, 64, 64)


# -- configuration errors at build time -----------------------------------
def _instance_cfg(**changes):
    cfg = Config.fromfile(INS_CONFIG)
    for key, value in changes.items():
        target = cfg.model
        *path, last = key.split('.')
        for part in path:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return cfg


@pytest.mark.parametrize(
    'changes,match',
    [
        ({'test_cfg.rcnn.subdivision_steps': -1}, 'subdivision_steps'),
        ({'test_cfg.rcnn.scale_factor': 1}, 'scale_factor'),
        ({'test_cfg.rcnn.scale_factor': 2.5}, 'scale_factor'),
        ({'test_cfg.rcnn.subdivision_num_points': 0}, 'num_points'),
        ({'roi_head.mask_head.in_channels': 7}, 'mask_head.in_channels'),
        ({'roi_head.point_head.fc_channels': -4}, 'fc_channels=-4'),
        ({'roi_head.mask_head.fc_out_channels': 0}, 'fc_out_channels=0'),
        ({'roi_head.fine_feat_index': [-1]}, 'fine_feat_index'),
    ],
)
def test_instance_build_errors(changes, match):
    with pytest.raises(ValueError, match=match):
        build_model_from_config(_instance_cfg(**changes))


def test_fine_level_out_of_range_is_named_at_first_forward(detector):
    head = copy.deepcopy(detector.roi_head)
    head.fine_feat_index = [7]
    head.fine_feat_strides = [4]
    rois = torch.tensor([[0, 4.0, 4.0, 40.0, 40.0]])
    feats = detector.extract_feat(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match='fine_feat_index=.7. but the neck'):
        head.refine_masks(feats, rois, torch.tensor([0]))


@pytest.mark.parametrize(
    'test_cfg,match',
    [
        (dict(mode='slide', crop_size=(64, 64)), 'stride'),
        (dict(mode='slide', stride=(32, 32)), 'crop_size'),
        (dict(mode='tiles'), "'whole' or 'slide'"),
        (dict(subdivision_steps=-1), 'subdivision_steps'),
        (dict(scale_factor=2.5), 'scale_factor'),
    ],
)
def test_semantic_build_errors(test_cfg, match):
    with pytest.raises(ValueError, match=match):
        build_model_from_config(SEM_CONFIG, {'model.test_cfg': test_cfg})


def test_negative_point_head_channels():
    with pytest.raises(ValueError, match='in_channels=-64'):
        build_model_from_config(
            SEM_CONFIG, {'model.decode_head.1.in_channels': [-64]}
        )


# -- data files ------------------------------------------------------------
@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from mmpointrend.dataset_makers import generate_synthetic_dataset

    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(root, num_train=2, num_val=1, size=64, seed=5)
    return root


def test_corrupt_label_png_is_named(data_root, tmp_path):
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    root = str(tmp_path / 'copy')
    subprocess.run(['cp', '-r', data_root, root], check=True)
    ann_dir = osp.join(root, 'ann_dir', 'train')
    broken = osp.join(ann_dir, sorted(os.listdir(ann_dir))[0])
    with open(broken, 'wb') as f:
        f.write(b'not a png')
    init_default_scope('mmseg')
    cfg = Config.fromfile(SEM_CONFIG).train_dataloader.dataset
    cfg.data_root = root
    dataset = DATASETS.build(cfg)
    with pytest.raises(ValueError, match=osp.basename(broken)):
        dataset[0]


def _coco(data_root):
    path = osp.join(data_root, 'annotations', 'instances_val.json')
    with open(path) as f:
        return json.load(f)


def test_two_point_polygon_is_repaired_for_evaluation(data_root, tmp_path):
    from mmpointrend.evaluation import BoundaryCocoMetric

    coco = _coco(data_root)
    coco['annotations'][0]['segmentation'] = [[10, 10, 20, 20]]
    path = str(tmp_path / 'ann.json')
    with open(path, 'w') as f:
        json.dump(coco, f)
    with pytest.warns(UserWarning, match='fewer than 3 points'):
        metric = BoundaryCocoMetric(ann_file=path, metric=['segm'])
    api = metric._coco_api
    ann = api.anns[coco['annotations'][0]['id']]
    assert ann['iscrowd'] == 1 and api.annToMask(ann).sum() == 0


def test_undefined_category_id_is_an_error(data_root, tmp_path):
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    from mmpointrend.evaluation import BoundaryCocoMetric

    coco = _coco(data_root)
    coco['annotations'][0]['category_id'] = 99
    path = str(tmp_path / 'ann.json')
    with open(path, 'w') as f:
        json.dump(coco, f)
    with pytest.raises(ValueError, match='category 99'):
        BoundaryCocoMetric(ann_file=path, metric=['segm'])
    init_default_scope('mmdet')
    cfg = Config.fromfile(INS_CONFIG).val_dataloader.dataset
    cfg.data_root = data_root
    cfg.ann_file = path
    with pytest.raises(ValueError, match='valid ids are'):
        DATASETS.build(cfg)


# -- converters ------------------------------------------------------------
MMSEG_TOOL = 'tools/model_converters/mmseg2mmpointrend.py'
D2_TOOL = 'tools/model_converters/detectron2_to_mmpointrend.py'


def _mmseg_state():
    return {
        'decode_head.1.fcs.0.conv.weight': torch.ones(1),
        'decode_head.1.fc_seg.weight': torch.ones(1),
    }


def test_converter_output_is_a_directory(tmp_path):
    src = tmp_path / 'in.pth'
    torch.save({'state_dict': _mmseg_state()}, src)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    proc = run_tool(MMSEG_TOOL, src, out_dir)
    assert proc.returncode != 0 and 'is a directory' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ['in.pth', 'out']
    assert os.listdir(out_dir) == []


def test_converter_non_dict_and_empty_inputs(tmp_path):
    src = tmp_path / 'list.pth'
    torch.save([torch.ones(1)], src)
    proc = run_tool(MMSEG_TOOL, src, tmp_path / 'o.pth')
    assert proc.returncode != 0 and 'not a checkpoint dict' in proc.stderr
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    proc = run_tool(MMSEG_TOOL, empty, tmp_path / 'o.pth')
    assert proc.returncode != 0 and '0 bytes' in proc.stderr
    import pickle

    pkl = tmp_path / 'nothing.pkl'
    with open(pkl, 'wb') as f:
        pickle.dump({'__author__': 'x', 'model': {}}, f)
    proc = run_tool(D2_TOOL, pkl, tmp_path / 'o.pth')
    assert proc.returncode != 0 and 'has no weights' in proc.stderr
    assert not (tmp_path / 'o.pth').exists()


def test_converted_checkpoint_keeps_classes_for_init_model(tmp_path):
    from conftest import to_foreign_layout
    from mmseg.apis import init_model

    model, _ = build_model_from_config(SEM_CONFIG)
    # Our keys back in mmseg's PointHead layout (the converter's input).
    state = to_foreign_layout(model.state_dict(), 'mmseg')
    classes = ('background', 'star', 'polygon', 'bar', 'ring')
    src = tmp_path / 'mmseg.pth'
    meta = dict(dataset_meta=dict(classes=classes, palette=[[0, 0, 0]] * 5))
    torch.save({'state_dict': state, 'meta': meta}, src)
    dst = tmp_path / 'ours.pth'
    proc = run_tool(MMSEG_TOOL, src, dst)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = init_model(SEM_CONFIG, str(dst), device='cpu')
    assert tuple(loaded.dataset_meta['classes']) == classes
    # Without class metadata mmseg falls back to num_classes (no crash).
    torch.save({'state_dict': state}, src)
    proc = run_tool(MMSEG_TOOL, src, tmp_path / 'plain.pth')
    assert proc.returncode == 0, proc.stderr[-2000:]
    init_model(SEM_CONFIG, str(tmp_path / 'plain.pth'), device='cpu')


# -- tools -------------------------------------------------------------------
def test_zero_byte_checkpoint_in_test_tool(data_root, tmp_path):
    empty = tmp_path / 'model.pth'
    empty.write_bytes(b'')
    proc = run_tool(
        'tools/test.py',
        SEM_CONFIG,
        empty,
        '--work-dir',
        str(tmp_path / 'w'),
        '--cfg-options',
        *data_options(data_root),
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'empty (0 bytes)' in proc.stderr and 'Traceback' not in proc.stderr


def test_unscoped_type_name_gets_a_hint(tmp_path):
    proc = run_tool(
        'tools/train.py',
        SEM_CONFIG,
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        'model.decode_head.1.type=PointRendSemSegHead',
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "type='mmpointrend.PointRendSemSegHead'" in proc.stderr


@pytest.mark.parametrize('nproc', ['0', '-1', 'two'])
def test_dist_scripts_refuse_bad_process_counts(nproc):
    for script, args in (
        ('tools/dist_train.sh', [SEM_CONFIG, nproc]),
        ('tools/dist_test.sh', [SEM_CONFIG, 'x.pth', nproc]),
    ):
        proc = subprocess.run(
            ['bash', script, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert 'NPROC must be a positive integer' in proc.stderr


@pytest.mark.parametrize('flag', ['--nproc', '--iters'])
@pytest.mark.parametrize('value', ['0', '-3'])
def test_demo_refuses_non_positive_counts(flag, value):
    proc = subprocess.run(
        [sys.executable, 'tools/demo.py', flag, value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and 'positive integer' in proc.stderr
