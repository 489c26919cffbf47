"""Parity with mmseg 1.2.2's PointRend under identical weights.

mmseg's SemanticFPN + PointHead Cityscapes model and ours are built from
their config files; mmseg's weights are converted with the project's
converter and loaded into ours. In the configuration where the two
algorithms coincide (same N, steps and scale factor), the point-head logits
and the final segmentation must match wherever the top-k selection is
decided; where two cells' uncertainties tie within rounding, either may be
refined (tests/_oracles.py), which holds on any x86 CPU.
"""

import os.path as osp

import pytest
import torch
from _oracles import (
    VALUE_TOL,
    assert_only_tie_flips,
    differing_cells,
    upsample,
)

from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.checkpoint.foreign import convert_mmseg_pointrend
from mmpointrend.models.utils import semantic_uncertainty
from mmpointrend.testing import demo_seg_batch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.parity


def _build(path, num_points):
    options = {'model.test_cfg.subdivision_num_points': num_points}
    return build_model_from_config(path, options)[0]


@pytest.fixture(scope='module')
def models():
    return build_models()


def build_models():
    """Mmseg's model and ours with the same (converted) weights, eval."""
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


def render_pair(ref, ours, inputs, samples):
    """Mmseg's point-head logits and ours on the same coarse logits.

    Returns:
        tuple: mmseg's (B, K, H, W) logits, ours, and our rendering steps
        (refined map, re-predicted cells).
    """
    steps = []
    with torch.no_grad():
        feats = ref.extract_feat(inputs)
        coarse = ref.decode_head[0].forward(feats)
        metas = [s.metainfo for s in samples]
        a = ref.decode_head[1].predict(feats, coarse, metas, ref.test_cfg)
        b = ours.decode_head[1].forward(
            feats,
            coarse,
            ours.test_cfg,
            on_step=lambda logits, idx: steps.append((logits.clone(), idx)),
        )
    return a, b, steps


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
    """Equal up to rounding, except where rounding decides a tied top-k.

    Both sizes render densely at stride 2 (at most N cells), then refine the
    N most uncertain cells of the stride-1 map: one top-k step.
    """
    ref, ours = models
    inputs, samples = demo_seg_batch(2, size, 19, seed=1)
    a, b, steps = render_pair(ref, ours, inputs, samples)
    with torch.no_grad():
        pa = ref.predict(inputs, samples)
        pb = ours.predict(inputs, samples)
    assert a.shape == b.shape == (2, 19, *size)
    (dense, dense_idx), (final, final_idx) = steps
    assert dense_idx is None and final_idx is not None
    assert torch.equal(final, b)
    scores = semantic_uncertainty(upsample(dense))
    assert_only_tie_flips(b, a, scores, ours.test_cfg.subdivision_num_points)
    differ = differing_cells(b, a)
    for i, (x, y) in enumerate(zip(pa, pb)):
        same = ~differ[i]
        assert torch.equal(
            x.pred_sem_seg.data[0][same], y.pred_sem_seg.data[0][same]
        )
        logits = x.seg_logits.data
        logit_diff = (logits - y.seg_logits.data).abs()
        scale = max(1.0, logits.abs().max().item())
        assert logit_diff[:, same].max() <= VALUE_TOL * scale


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
