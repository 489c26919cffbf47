"""Tensor mode (broken in mmseg for PointRend): FLOPs and tracing."""

import torch
from mmengine.analysis import get_model_complexity_info

from mmpointrend.registry import MODELS
from mmpointrend.testing import tiny_segmentor_cfg


def test_flops_counter_runs_on_tensor_mode():
    model = MODELS.build(tiny_segmentor_cfg()).eval()
    info = get_model_complexity_info(
        model, inputs=(torch.randn(1, 3, 64, 64),)
    )
    assert info['flops'] > 0
    assert info['params'] == sum(p.numel() for p in model.parameters())


class TensorMode(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        return self.model(inputs, mode='tensor')


def test_traced_model_matches_eager():
    model = MODELS.build(tiny_segmentor_cfg()).eval()
    inputs = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        eager = model(inputs, mode='tensor')
        traced = torch.jit.trace(TensorMode(model), inputs, check_trace=False)
        assert torch.allclose(traced(inputs), eager, atol=1e-5)
        other = torch.randn(1, 3, 64, 64)
        assert torch.allclose(
            traced(other), model(other, mode='tensor'), atol=1e-5
        )
