"""Parity with mmseg 1.2.2's PointRend under identical weights.

mmseg's SemanticFPN + PointHead Cityscapes model and ours are built from
their config files; mmseg's weights are converted with the project's
converter and loaded into ours. In the configuration where the two
algorithms coincide (same N, steps and scale factor), the point-head logits
and the final segmentation must match.
"""

import os.path as osp

import pytest
import torch

from mmpointrend.converters import convert_mmseg_pointrend
from mmpointrend.testing import build_model_from_config, demo_seg_batch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.parity


def _build(path, num_points):
    options = {'model.test_cfg.subdivision_num_points': num_points}
    return build_model_from_config(path, options)[0]


@pytest.fixture(scope='module')
def models():
    torch.manual_seed(0)
    ref = _build(
        'mmseg::point_rend/pointrend_r50_4xb2-80k_cityscapes-512x1024.py', 8196
    )
    ref.init_weights()
    # Random BN statistics so that eval mode is not the identity.
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ours = _build(
        osp.join(
            ROOT,
            'configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py',
        ),
        8196,
    )
    state, renamed = convert_mmseg_pointrend(ref.state_dict())
    assert len(renamed) == 8  # 3 fcs + predictor, weight and bias
    missing, unexpected = ours.load_state_dict(state, strict=True)
    assert not missing and not unexpected
    return ref.eval(), ours.eval()


def test_point_mlp_logits_match(models):
    ref, ours = models
    fine = torch.randn(2, 256, 1000)
    coarse = torch.randn(2, 19, 1000)
    with torch.no_grad():
        a = ref.decode_head[1].forward(fine, coarse)
        b = ours.decode_head[1].mlp(fine, coarse)
    assert (a - b).abs().max().item() <= 1e-5


@pytest.mark.parametrize('size', [(128, 256), (96, 160)])
def test_rendered_logits_and_segmentation_match(models, size):
    ref, ours = models
    inputs, samples = demo_seg_batch(2, size, 19, seed=1)
    with torch.no_grad():
        feats = ref.extract_feat(inputs)
        coarse = ref.decode_head[0].forward(feats)
        cfg = ref.test_cfg
        metas = [s.metainfo for s in samples]
        a = ref.decode_head[1].predict(feats, coarse, metas, cfg)
        b = ours.decode_head[1].predict(feats, coarse, metas, ours.test_cfg)
        assert a.shape == b.shape == (2, 19, *size)
        assert (a - b).abs().max().item() <= 1e-5
        pa = ref.predict(inputs, samples)
        pb = ours.predict(inputs, samples)
    for x, y in zip(pa, pb):
        assert torch.equal(x.pred_sem_seg.data, y.pred_sem_seg.data)
        assert (x.seg_logits.data - y.seg_logits.data).abs().max() <= 1e-5


def test_coarse_loss_matches_and_point_loss_is_finite(models):
    ref, ours = models
    inputs, samples = demo_seg_batch(2, (64, 128), 19, seed=2)
    ref.train(), ours.train()
    torch.manual_seed(0)
    la = ref.loss(inputs, samples)
    torch.manual_seed(0)
    lb = ours.loss(inputs, samples)
    ref.eval(), ours.eval()
    assert la['decode_0.loss_ce'].item() == pytest.approx(
        lb['decode_0.loss_ce'].item(), rel=1e-5
    )
    assert torch.isfinite(lb['decode_1.loss_ce_point'])
