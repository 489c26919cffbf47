"""Layer 3: every shipped config loads, builds and runs loss + predict."""

import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.testing import demo_seg_batch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p
    # configs/any_model: full-size backbones, exercised with tiny ones by
    # tests/test_any_model.py (and built there to match the tool's output)
    and f'{osp.sep}any_model{osp.sep}' not in p
    # configs/refiner: not a segmentor or detector; tests/test_refiner.py
    and f'{osp.sep}refiner{osp.sep}' not in p
)


#: Model config -> the config whose test ran it.
_EXERCISED: dict[str, str] = {}


def _num_classes(model_cfg):
    head = model_cfg.decode_head
    head = head[-1] if isinstance(head, list) else head
    return head.num_classes


def _is_detector(cfg):
    return 'roi_head' in cfg.model


def _build(cfg):
    # The configs keep SyncBN for multi-GPU training; the builder swaps it.
    return build_model_from_config(cfg)[0]


def _add_point_annotations(gt, num_points=5):
    """PointSup ground truth: labelled pixels in each box, read from masks."""
    gen = torch.Generator().manual_seed(0)
    masks = torch.as_tensor(gt.masks.to_ndarray())
    boxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
    coords = torch.zeros(len(boxes), num_points, 2)
    labels = torch.zeros(len(boxes), num_points, dtype=torch.long)
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        pts = torch.rand(num_points, 2, generator=gen)
        pts = pts * torch.tensor([x2 - x1, y2 - y1]) + torch.tensor([x1, y1])
        ix = pts[:, 0].long().clamp(0, masks.shape[2] - 1)
        iy = pts[:, 1].long().clamp(0, masks.shape[1] - 1)
        coords[i] = pts
        labels[i] = masks[i, iy, ix].long()
    gt.point_coords = coords
    gt.point_labels = labels


def _detector_steps(cfg, model):
    from mmdet.testing import demo_mm_inputs

    num_classes = cfg.model.roi_head.bbox_head.num_classes
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 96, 128), (3, 128, 96)],
        num_items=[3, 0],  # the second image has no instances
        # mmdet's generator draws labels with randint(1, K): K >= 2
        num_classes=max(num_classes, 2),
        with_mask=True,
    )
    for sample in packed['data_samples']:
        sample.gt_instances.labels %= num_classes
        point_head = cfg.model.roi_head.get('point_head') or {}
        targets = point_head.get('point_targets') or {}
        if targets.get('type', '').endswith('AnnotatedPointTargets'):
            _add_point_annotations(sample.gt_instances)
    data = model.data_preprocessor(packed, True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    roi_head = cfg.model.roi_head.type
    if 'Implicit' in roi_head:  # a single point loss, no coarse mask loss
        expected = {'loss_point', 'loss_params'}
        assert 'loss_mask' not in losses
    elif 'PointRend' in roi_head:
        expected = {'loss_mask', 'loss_point'}
    else:
        expected = {'loss_mask'}
    assert expected <= set(losses)
    total = sum(
        v if torch.is_tensor(v) else sum(v)
        for k, v in losses.items()
        if 'loss' in k
    )
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        preds = model.predict(data['inputs'], data['data_samples'])
    assert len(preds) == 2
    for pred in preds:
        masks = pred.pred_instances.masks
        assert masks.shape[1:] == pred.ori_shape


def test_configs_were_found():
    assert len(CONFIGS) >= 22


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds_and_runs_one_loss_and_predict_step(path):
    cfg = Config.fromfile(path)
    # Configs that differ only in schedule, data or evaluation (3x vs 1x,
    # LVIS evaluation) share a model with a config exercised before; the
    # model's loss and predict are not run twice (a 290 M-parameter
    # Implicit PointRend head takes half a minute per run on 2 cores).
    key = json.dumps(cfg.model.to_dict(), sort_keys=True, default=str)
    if key in _EXERCISED:
        pytest.skip(f'same model as {osp.relpath(_EXERCISED[key], ROOT)}')
    _EXERCISED[key] = path
    model = _build(cfg)
    torch.manual_seed(0)
    if _is_detector(cfg):
        _detector_steps(cfg, model)
        return
    num_classes = _num_classes(cfg.model)
    inputs, samples = demo_seg_batch(2, (64, 64), num_classes)
    model.train()
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs[:1], samples[:1])
    assert preds[0].seg_logits.data.shape == (num_classes, 64, 64)


def test_pointrend_fpn_cityscapes_keeps_mmseg_recipe():
    cfg = Config.fromfile(
        osp.join(
            ROOT,
            'configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py',
        )
    )
    head = cfg.model.decode_head[1]
    assert cfg.model.type == 'mmpointrend.PointRendEncoderDecoder'
    assert head.type == 'mmpointrend.PointRendSemSegHead'
    assert head.point_sampler.num_points == 2048
    assert (
        head.point_sampler.oversample_ratio,
        head.point_sampler.importance_sample_ratio,
    ) == (3, 0.75)
    assert cfg.model.test_cfg.subdivision_num_points == 8192
    assert cfg.model.train_cfg == {}
    # Schedule, optimiser, data and crop inherited unchanged from mmseg.
    assert cfg.train_cfg.max_iters == 80000
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.param_scheduler[0].type == 'LinearLR'
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.model.data_preprocessor.size == (512, 1024)


def test_deeplabv3_pointrend_is_the_paper_setup():
    cfg = Config.fromfile(
        osp.join(
            ROOT,
            'configs/deeplabv3/pointrend_deeplabv3_r50-d16_4xb2-80k_cityscapes-512x1024.py',
        )
    )
    coarse, point = cfg.model.decode_head
    assert coarse.type == 'ASPPHead' and coarse.dilations == (1, 6, 12, 18)
    assert cfg.model.backbone.strides == (1, 2, 2, 1)
    assert point.in_index == [0] and point.in_channels == [256]  # res2
    assert (
        point.point_sampler.num_points == 32 * 64
    )  # stride-16 cells of the crop
    assert cfg.model.test_cfg.subdivision_steps == 4
    assert cfg.model.test_cfg.subdivision_num_points == 8192
    model = _build(cfg)
    assert model.decode_head[0].num_classes == 19


@pytest.mark.parametrize('path', [p for p in CONFIGS if '_r101' in p])
def test_r101_configs_build_a_resnet101(path):
    # mmseg 1.2.2's fpn_r101 ADE20K config silently builds a ResNet-50.
    assert Config.fromfile(path).model.backbone.depth == 101
