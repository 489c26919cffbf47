"""The point-head contract, exercised by a component the project never saw.

``TinyPointMLP`` is the smallest module the contract admits: built with
``fine_channels``, ``coarse_channels`` and ``out_channels``, ``forward(fine
(B, C, P), coarse (B, K, P)) -> (B, out, P)``, nothing else (no fast paths).
Plugged into the semantic point head and the instance point head through
the config alone (``mlp=dict(type=...)``), both models train a step and
predict; a custom uncertainty component is plugged in the same way and is
what the renderer and the training sampler call.
"""

from __future__ import annotations

import torch
from conftest import INS_CONFIG, SEM_CONFIG
from mmdet.testing import demo_mm_inputs
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.models.utils import LogitUncertainty
from mmpointrend.registry import MODELS, TASK_UTILS
from mmpointrend.testing import demo_seg_batch


@MODELS.register_module(force=True)
class TinyPointMLP(BaseModule):
    """One 1x1 layer over cat(fine, coarse): a different MLP."""

    def __init__(self, fine_channels, coarse_channels, out_channels):
        super().__init__()
        self.out_channels = out_channels
        self.layer = nn.Conv1d(
            fine_channels + coarse_channels, out_channels, 1
        )

    def forward(self, fine: Tensor, coarse: Tensor) -> Tensor:
        return self.layer(torch.cat((fine, coarse.to(fine.dtype)), dim=1))


@TASK_UTILS.register_module(force=True)
class CountingUncertainty(LogitUncertainty):
    """The default measure, counting its calls by the shape it sees."""

    calls: list[int] = []

    def __call__(self, logits, classes=None):
        CountingUncertainty.calls.append(logits.dim())
        return super().__call__(logits, classes)


def test_custom_mlp_and_uncertainty_in_the_semantic_model():
    model, _ = build_model_from_config(
        SEM_CONFIG,
        {
            'model.decode_head.1.mlp': dict(type='mmpointrend.TinyPointMLP'),
            'model.decode_head.1.uncertainty': dict(
                type='mmpointrend.CountingUncertainty'
            ),
        },
    )
    model.init_weights()
    head = model.decode_head[1]
    assert type(head.mlp).__name__ == 'TinyPointMLP'
    assert head.mlp.layer.in_channels == 64 + 5  # fine + coarse
    inputs, samples = demo_seg_batch(2, (64, 64), 5, seed=0)
    CountingUncertainty.calls.clear()
    model.train()
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert head.mlp.layer.weight.grad.abs().sum() > 0
    assert CountingUncertainty.calls == [3]  # (B, K, P) candidates
    model.eval()
    CountingUncertainty.calls.clear()
    with torch.no_grad():
        result = model.predict(inputs, samples)
    assert result[0].pred_sem_seg.data.shape[-2:] == (64, 64)
    assert CountingUncertainty.calls == [4]  # the one sparse step's map


def test_custom_mlp_and_uncertainty_in_the_instance_model():
    model, _ = build_model_from_config(
        INS_CONFIG,
        {
            'model.roi_head.point_head.mlp': dict(
                type='mmpointrend.TinyPointMLP'
            ),
            'model.roi_head.point_head.uncertainty': dict(
                type='mmpointrend.CountingUncertainty'
            ),
        },
    )
    model.init_weights()
    head = model.roi_head.point_head
    assert type(head.mlp).__name__ == 'TinyPointMLP'
    num_classes = head.num_classes
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 128, 128)] * 2,
        num_items=[3, 2],
        num_classes=max(num_classes, 2),
        with_mask=True,
    )
    for sample in packed['data_samples']:
        sample.gt_instances.labels %= num_classes
    data = model.data_preprocessor(packed, True)
    CountingUncertainty.calls.clear()
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_mask', 'loss_point'} <= set(losses)
    sum(
        v for k, v in losses.items() if 'loss' in k and torch.is_tensor(v)
    ).backward()
    assert head.mlp.layer.weight.grad.abs().sum() > 0
    assert CountingUncertainty.calls == [3]  # (R, K, P) candidates
    model.eval()
    rois = torch.tensor(
        [[0, 4.0, 4.0, 60.0, 50.0], [0, 10.0, 20.0, 90.0, 100.0]]
    )
    CountingUncertainty.calls.clear()
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'][:1])
        _, refined = model.roi_head.refine_masks(
            feats, rois, torch.tensor([0, num_classes - 1])
        )
    assert refined.shape == (2, 1, 224, 224)
    # every sparse render step ranks a (R, 1, H, W) map: 3 steps
    assert CountingUncertainty.calls == [4, 4, 4]
