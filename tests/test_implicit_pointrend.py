"""Implicit PointRend: the per-object MLP, its encoding, its RoI head."""

from __future__ import annotations

import math

import pytest
import torch
from mmdet.testing import demo_mm_inputs, demo_mm_proposals
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from mmpointrend.models import (
    FourierPointEncoding,
    ImplicitPointHead,
)
from mmpointrend.registry import MODELS

SYNTH = 'configs/synthetic/implicit-pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py'


def test_parameter_counts_are_detectron2s():
    # 512->256->256->256->80 weights and biases (class-specific COCO head)
    assert ImplicitPointHead(80).num_params == 283_472
    assert ImplicitPointHead(80, class_agnostic=True).num_params == 263_169
    assert ImplicitPointHead(80, positional_encoding=False).num_params == (
        283_472 - 256 * 256
    )
    with pytest.raises(ValueError, match='image_features or'):
        ImplicitPointHead(80, image_features=False, positional_encoding=False)


def test_fourier_encoding_of_known_points():
    enc = FourierPointEncoding(4)
    enc.gaussian.copy_(torch.tensor([[1.0, 0.5], [0.0, 2.0]]))
    # (u, v) = (0.5, 0.5) is the box centre: z = 0, sin 0, cos 1
    # (u, v) = (1, 0) -> (1, -1) @ G = (1, -1.5) -> z = 2 pi (1, -1.5)
    points = torch.tensor([[[0.5, 0.5], [1.0, 0.0]]])
    out = enc(points)
    assert out.shape == (1, 4, 2)
    z = 2 * math.pi * torch.tensor([1.0, -1.5])
    expected = torch.tensor(
        [[0.0, 0.0, 1.0, 1.0], [*z.sin().tolist(), *z.cos().tolist()]]
    ).t()
    assert torch.allclose(out[0], expected, atol=1e-5)
    with pytest.raises(ValueError, match='even'):
        FourierPointEncoding(3)


@pytest.mark.parametrize('agnostic', [False, True])
def test_dynamic_mlp_equals_a_linear_stack_per_object(agnostic):
    torch.manual_seed(0)
    head = ImplicitPointHead(
        5, in_channels=6, fc_channels=7, num_fcs=2, class_agnostic=agnostic,
        encoding_channels=4,
    )  # fmt: skip
    params = torch.randn(3, head.num_params)
    fine = torch.randn(3, 6, 11)
    points = torch.rand(3, 11, 2)
    out = head(params, fine, points)
    weights, biases = head.split_params(params)
    for r in range(3):
        # the r-th object's MLP as ordinary layers
        layers = []
        for (cin, cout), w, b in zip(head.layer_shapes, weights, biases):
            lin = nn.Linear(cin, cout)
            lin.weight.data.copy_(w[r])
            lin.bias.data.copy_(b[r])
            layers += [lin, nn.ReLU()]
        mlp = nn.Sequential(*layers[:-1])
        x = torch.cat([fine[r], head.encoding(points[r : r + 1])[0]]).t()
        assert torch.allclose(out[r], mlp(x).t(), atol=1e-5)
    # the parameter layout: every weight, then every bias
    assert weights[0].shape == (3, 7, 10)
    assert torch.equal(weights[0].reshape(3, -1), params[:, : 7 * 10])
    labels = torch.tensor([4, 0, 2])
    picked = head(params, fine, points, labels)
    channel = torch.zeros(3, dtype=torch.long) if agnostic else labels
    assert torch.allclose(picked[:, 0], out[torch.arange(3), channel])
    with pytest.raises(ValueError, match='parameter head predicts'):
        head(params[:, :-1], fine, points)


def _roi_head():
    init_default_scope('mmdet')
    cfg = Config.fromfile(SYNTH)
    head = cfg.model.roi_head
    head.train_cfg = cfg.model.train_cfg.rcnn
    head.test_cfg = cfg.model.test_cfg.rcnn
    torch.manual_seed(0)
    return MODELS.build(head)


def test_param_head_is_sized_from_the_point_head():
    head = _roi_head()
    assert head.mask_head.num_params == head.point_head.num_params
    assert head.mask_head.fc_logits.out_features == head.point_head.num_params
    cfg = Config.fromfile(SYNTH).model.roi_head
    cfg.mask_head.num_params = 7
    init_default_scope('mmdet')
    with pytest.raises(ValueError, match='num_params=7'):
        MODELS.build(cfg)


def _features(batch=2, size=128, width=64):
    return tuple(
        torch.randn(batch, width, size // s, size // s) for s in (4, 8, 16, 32)
    )


def test_loss_keys_and_zero_positives():
    head = _roi_head().train()
    x = _features()
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 128, 128)] * 2,
        num_items=[3, 2],
        num_classes=4,
        with_mask=True,
    )
    proposals = demo_mm_proposals([(3, 128, 128)] * 2, 100)
    losses = head.loss(x, proposals, packed['data_samples'])
    assert {'loss_point', 'loss_params', 'loss_cls', 'loss_bbox'} <= set(
        losses
    )
    assert 'loss_mask' not in losses  # a single point loss, no coarse loss
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    assert head.mask_head.fc_logits.weight.grad.abs().sum() > 0
    # images without objects: zero mask losses, still in the graph
    empty = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 128, 128)] * 2,
        num_items=[0, 0],
        num_classes=4,
        with_mask=True,
    )
    losses = head.loss(
        x,
        demo_mm_proposals([(3, 128, 128)] * 2, 10),
        empty['data_samples'],
    )
    assert (
        losses['loss_point'].item() == 0 and losses['loss_params'].item() == 0
    )


def test_predict_renders_224_masks_and_handles_no_detections():
    head = _roi_head().eval()
    x = _features(1)
    rois = torch.tensor(
        [[0, 10.0, 12.0, 90.0, 70.0], [0, 40.0, 5.0, 120.0, 60.0]]
    )
    with torch.no_grad():
        params, refined = head.refine_masks(x, rois, torch.tensor([1, 3]))
    assert params.shape == (2, head.point_head.num_params)
    assert refined.shape == (2, 1, 224, 224)
    # the rendered map is the point head's own prediction everywhere (the
    # zero start grid never survives)
    assert (refined != 0).float().mean() > 0.99
    from mmengine.structures import InstanceData

    res = InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
        scores=torch.zeros(0),
    )  # fmt: skip
    meta = dict(
        img_shape=(128, 128), ori_shape=(128, 128), scale_factor=(1.0, 1.0)
    )
    with torch.no_grad():
        out = head.predict_mask(x, [meta], [res])
    assert out[0].masks.shape == (0, 128, 128)
