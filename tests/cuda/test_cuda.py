"""The cuda layer: the same results on a GPU as on the CPU and the references.

Run on a CUDA machine with ``pytest -m cuda tests/cuda`` (``tools/gpu_check.sh``
does); everywhere else these tests are skipped. What is compared:

* the geometry core on both devices (sampling exactly up to rounding, the
  blocked top-k selecting the same values as a dense top-k);
* both heads on both devices with the same weights: coarse logits within
  rounding, rendered maps equal except where a tied top-k selection may
  flip (tests/_oracles.py), labels equal elsewhere;
* parity with mmseg's ``PointHead`` and mmdet's ``PointRendRoIHead`` on the
  GPU with the same weights, as the CPU parity tests check;
* fp16 autocast inference of both tasks against fp32.
"""

from __future__ import annotations

import pytest
import torch
from _oracles import (
    VALUE_TOL,
    assert_only_tie_flips,
    differing_cells,
    upsample,
)
from conftest import INS_CONFIG, SEM_CONFIG

from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.models.utils import (
    neg_abs_logit,
    point_sample,
    semantic_uncertainty,
    topk_cells,
)
from mmpointrend.testing import demo_seg_batch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason='needs a CUDA device'
    ),
]

#: Largest |CPU - CUDA| of a logit relative to max(1, max |logit|): cuDNN
#: and cuBLAS sum in other orders than CPU BLAS (TF32 is off, see below).
DEVICE_TOL = 1e-4


@pytest.fixture(autouse=True)
def no_tf32():
    """Full fp32 matmuls: TF32 would round to 10 bits of mantissa."""
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    ) = saved


# -- geometry -------------------------------------------------------------------
def test_point_sample_and_uncertainty_agree_across_devices():
    gen = torch.Generator().manual_seed(0)
    maps = torch.randn(3, 7, 33, 47, generator=gen)
    points = torch.rand(3, 500, 2, generator=gen) * 1.2 - 0.1  # some outside
    cpu = point_sample(maps, points)
    gpu = point_sample(maps.cuda(), points.cuda()).cpu()
    assert (cpu - gpu).abs().max() <= 1e-5
    assert torch.equal(
        neg_abs_logit(maps[:, :1]), neg_abs_logit(maps[:, :1].cuda()).cpu()
    )
    assert (
        semantic_uncertainty(maps) - semantic_uncertainty(maps.cuda()).cpu()
    ).abs().max() <= 1e-6


@pytest.mark.parametrize('cells,k', [(64 * 128, 1000), (256 * 512, 8192)])
def test_topk_cells_selects_the_dense_topk_values_on_cuda(cells, k):
    scores = torch.randn(2, cells, device='cuda')
    idx = topk_cells(scores, k)
    picked = scores.gather(1, idx).sort(dim=1, descending=True).values
    dense = scores.topk(k, dim=1).values
    assert torch.equal(picked, dense)


# -- semantic -----------------------------------------------------------------
@pytest.fixture(scope='module')
def semantic():
    torch.manual_seed(0)
    model, _ = build_model_from_config(SEM_CONFIG)
    model.init_weights()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def _render(model, inputs):
    """Coarse logits, rendered logits and the rendering steps."""
    steps = []
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        coarse = model.decode_head[0].forward(feats)
        refined = model.decode_head[1].forward(
            feats,
            coarse,
            model.test_cfg,
            on_step=lambda logits, idx: steps.append((logits.clone(), idx)),
        )
    return coarse, refined, steps


def test_semantic_render_agrees_across_devices(semantic):
    inputs, _ = demo_seg_batch(2, (128, 128), 5, seed=4)
    coarse_c, refined_c, steps_c = _render(semantic, inputs)
    gpu = semantic.cuda()
    try:
        coarse_g, refined_g, _ = _render(gpu, inputs.cuda())
    finally:
        semantic.cpu()
    scale = max(1.0, coarse_c.abs().max().item())
    assert (coarse_c - coarse_g.cpu()).abs().max() <= DEVICE_TOL * scale
    # the last step ranked the upsampled map of the step before it
    before_last = steps_c[-2][0] if len(steps_c) > 1 else coarse_c
    scores = semantic_uncertainty(upsample(before_last))
    num_points = (
        semantic.decode_head[1]
        .subdivision_settings(semantic.test_cfg)
        .num_points
    )
    import _oracles

    saved = _oracles.VALUE_TOL
    _oracles.VALUE_TOL = DEVICE_TOL
    try:
        assert_only_tie_flips(refined_g.cpu(), refined_c, scores, num_points)
    finally:
        _oracles.VALUE_TOL = saved
    same = ~differing_cells(refined_g.cpu(), refined_c, DEVICE_TOL)
    labels_c = refined_c.argmax(1)
    labels_g = refined_g.cpu().argmax(1)
    assert torch.equal(labels_c[same], labels_g[same])


def test_semantic_fp16_autocast_inference(semantic):
    inputs, _ = demo_seg_batch(2, (128, 128), 5, seed=5)
    model = semantic.cuda()
    try:
        with torch.no_grad():
            full = model(inputs.cuda(), mode='tensor')
            with torch.autocast('cuda', dtype=torch.float16):
                half = model(inputs.cuda(), mode='tensor')
    finally:
        semantic.cpu()
    assert torch.isfinite(half).all()
    agree = (full.argmax(1) == half.float().argmax(1)).float().mean()
    assert agree >= 0.99, f'fp16 labels agree on {agree:.2%} of pixels'


# -- instance -----------------------------------------------------------------
@pytest.fixture(scope='module')
def detector():
    torch.manual_seed(1)
    model, _ = build_model_from_config(INS_CONFIG)
    model.init_weights()
    with torch.no_grad():
        for p in model.roi_head.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


ROIS = torch.tensor(
    [
        [0, 4.0, 6.0, 60.0, 50.0],
        [0, 20.0, 10.0, 120.0, 100.0],
        [1, 3.3, 4.4, 40.0, 120.0],
        [1, -10.0, 90.0, 40.0, 130.0],  # partly outside
    ]
)


def _refine(model, device):
    gen = torch.Generator().manual_seed(2)
    inputs = torch.randn(2, 3, 128, 128, generator=gen).to(device)
    labels = torch.tensor([0, 1, 2, 0], device=device)
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        return model.roi_head.refine_masks(feats, ROIS.to(device), labels)


def test_instance_refinement_agrees_across_devices(detector):
    coarse_c, refined_c = _refine(detector, 'cpu')
    gpu = detector.cuda()
    try:
        coarse_g, refined_g = _refine(gpu, 'cuda')
    finally:
        detector.cpu()
    scale = max(1.0, coarse_c.abs().max().item())
    assert (coarse_c - coarse_g.cpu()).abs().max() <= DEVICE_TOL * scale
    # Three top-k steps: a flipped tie changes the cells refined later, so
    # the final masks are bounded, not equal: at most 1% of the pixels.
    masks_c, masks_g = refined_c > 0, refined_g.cpu() > 0
    assert (masks_c != masks_g).float().mean() <= 0.01


def test_instance_fp16_autocast_inference(detector):
    _, full = _refine(detector.cuda(), 'cuda')
    try:
        with torch.autocast('cuda', dtype=torch.float16):
            _, half = _refine(detector, 'cuda')
    finally:
        detector.cpu()
    assert torch.isfinite(half).all()
    agree = ((full > 0) == (half.float() > 0)).float().mean()
    assert agree >= 0.99, f'fp16 masks agree on {agree:.2%} of pixels'


# -- parity with the references on the GPU ---------------------------------------
def test_mmseg_parity_on_cuda():
    from test_parity_mmseg import build_models, render_pair

    ref, ours = build_models()
    ref, ours = ref.cuda(), ours.cuda()
    inputs, samples = demo_seg_batch(2, (128, 256), 19, seed=1)
    a, b, steps = render_pair(ref, ours, inputs.cuda(), samples)
    scores = semantic_uncertainty(upsample(steps[0][0]))
    assert_only_tie_flips(
        b.cpu(), a.cpu(), scores.cpu(), ours.test_cfg.subdivision_num_points
    )
    same = ~differing_cells(b.cpu(), a.cpu())
    assert (b.cpu() - a.cpu()).abs().amax(1)[same].max() <= VALUE_TOL * max(
        1.0, a.abs().max().item()
    )


def test_mmdet_parity_on_cuda():
    from test_parity_mmdet import (
        LABELS,
        _features,
        build_heads,
        mmdet_final_masks,
    )
    from test_parity_mmdet import ROIS as MMDET_ROIS

    ref, ours = build_heads()
    ref, ours = ref.cuda(), ours.cuda()
    x = tuple(f.cuda() for f in _features())
    import test_parity_mmdet

    saved = (test_parity_mmdet.ROIS, test_parity_mmdet.LABELS)
    test_parity_mmdet.ROIS = MMDET_ROIS.cuda()
    test_parity_mmdet.LABELS = LABELS.cuda()
    try:
        with torch.no_grad():
            theirs = mmdet_final_masks(ref, x)
            _, mine = ours.refine_masks(x, MMDET_ROIS.cuda(), LABELS.cuda())
    finally:
        test_parity_mmdet.ROIS, test_parity_mmdet.LABELS = saved
    mine = mine[:, 0].sigmoid()
    # five steps with three top-k selections: bounded as across devices
    assert ((mine > 0.5) != (theirs > 0.5)).float().mean() <= 0.01
