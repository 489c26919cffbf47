"""Parity with mmdet 3.3's PointRendRoIHead under identical weights.

Both RoI heads are built from their config files; mmdet's weights go through
the project's converter. With N = 28^2 and 5 steps the two algorithms
coincide (mmdet skips to the 28x28 grid and selects every cell there; we
render that grid densely), so coarse logits and the final 224x224 mask
probabilities of each detection's class must agree, and so must the
training losses for a fixed set of sampled points.

The point MLP runs with ``use_gemm=False`` (the references' Conv1d
arithmetic). Even so, rounding differs between CPUs (mmdet refines per
image, we refine all RoIs in one batch, and BLAS kernels differ between
Intel and AMD), and ~1e-7 can flip a near-tie in a top-784 selection, so
the rendered masks are compared where the selection is decided and bounded
where it is tied (tests/_oracles.py). The last test bounds how much the
default ``use_gemm=True`` changes.
"""

import copy
import os.path as osp

import pytest
import torch
from _oracles import (
    VALUE_TOL,
    assert_only_tie_flips,
    differing_cells,
    upsample,
)
from mmdet.testing import demo_mm_inputs, demo_mm_proposals
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmpointrend.apis import resolve_config
from mmpointrend.checkpoint.foreign import convert_mmdet_pointrend
from mmpointrend.models.utils import neg_abs_logit

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
OURS = osp.join(
    ROOT, 'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
)
REF = 'mmdet::point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py'
pytestmark = pytest.mark.parity


def _roi_head(spec):
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    cfg = Config.fromfile(resolve_config(spec, ROOT))
    head = copy.deepcopy(cfg.model.roi_head)
    head.train_cfg = cfg.model.train_cfg.rcnn
    head.test_cfg = cfg.model.test_cfg.rcnn
    return MODELS.build(head)


@pytest.fixture(scope='module')
def heads():
    return build_heads()


def build_heads():
    """Mmdet's RoI head and ours with the same (converted) weights, eval."""
    torch.manual_seed(0)
    ref = _roi_head(REF)
    ref.init_weights()
    with torch.no_grad():  # non-trivial coarse logits
        ref.mask_head.fc_logits.weight.normal_(std=0.05)
        ref.mask_head.fc_logits.bias.normal_(std=0.5)
        ref.point_head.fc_logits.weight.normal_(std=0.05)
    ours = _roi_head(OURS)
    ours.point_head.mlp.use_gemm = False  # the references' arithmetic
    prefixed = {f'roi_head.{k}': v for k, v in ref.state_dict().items()}
    converted, renamed = convert_mmdet_pointrend(prefixed)
    assert len(renamed) == 10  # downsample conv, 3 point fcs, predictor (w, b)
    state = {k[len('roi_head.') :]: v for k, v in converted.items()}
    result = ours.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return ref.eval(), ours.eval()


def _features(batch=2, size=256):
    gen = torch.Generator().manual_seed(3)
    return tuple(
        torch.randn(batch, 256, size // s, size // s, generator=gen)
        for s in (4, 8, 16, 32, 64)
    )


ROIS = torch.tensor(
    [
        [0, 12.0, 20.5, 140.3, 96.0],
        [0, 100.0, 30.0, 250.0, 250.0],
        [1, 3.3, 4.4, 60.0, 200.0],
        [1, 50.0, 50.0, 90.0, 80.0],
        [1, -10.0, 200.0, 40.0, 270.0],  # partly outside the image
    ]
)
LABELS = torch.tensor([3, 79, 0, 42, 7])


def mmdet_masks(ref, x, steps=5):
    """Mmdet's logits of each RoI's class after ``steps`` subdivision steps.

    mmdet refines per image; with fewer steps its output is the map of an
    intermediate step of the full render.
    """
    saved = ref.test_cfg.subdivision_steps
    ref.test_cfg.subdivision_steps = steps
    try:
        coarse = ref._mask_forward(x, ROIS)['mask_preds']
        refined = []
        for img in (0, 1):
            sel = ROIS[:, 0] == img
            rois_i = ROIS[sel].clone()
            rois_i[:, 0] = 0
            x_i = [f[[img]] for f in x]
            refined.append(
                ref._mask_point_forward_test(
                    x_i, rois_i, LABELS[sel], coarse[sel]
                )
            )
    finally:
        ref.test_cfg.subdivision_steps = saved
    rows = torch.arange(len(LABELS))
    return torch.cat(refined)[rows, LABELS][:, None]


def mmdet_final_masks(ref, x):
    """Mmdet's 224x224 probabilities of each RoI's class."""
    return mmdet_masks(ref, x)[:, 0].sigmoid()


def test_coarse_logits_match(heads):
    ref, ours = heads
    x = _features()
    with torch.no_grad():
        a = ref._mask_forward(x, ROIS)['mask_preds']
        b = ours._mask_forward(x, ROIS)['mask_preds']
    assert a.shape == b.shape == (5, 80, 7, 7)
    assert (a - b).abs().max().item() <= 1e-5


def test_every_step_matches_where_the_selection_is_decided(heads):
    """Step by step (28 dense, then 56, 112, 224 with N = 784) against mmdet.

    A RoI stays "in sync" while each step differs from mmdet's only at
    cells whose uncertainty ties the 784th within rounding
    (tests/_oracles.py); after a tie flip its later steps start from
    slightly different maps, so for such RoIs the effect on the final mask
    is bounded instead. Rounding, and hence which ties flip, depends on the
    CPU's BLAS kernels; the checks hold on any of them.
    """
    ref, ours = heads
    x = _features()
    steps = []
    with torch.no_grad():
        _, refined = ours.refine_masks(
            x,
            ROIS,
            LABELS,
            on_step=lambda logits, idx: steps.append(logits.clone()),
        )
        reference = [mmdet_masks(ref, x, k) for k in (2, 3, 4, 5)]
    assert [m.shape[-1] for m in steps] == [28, 56, 112, 224]
    assert torch.equal(steps[-1], refined)
    # 28 x 28 is rendered densely by both: no selection involved.
    assert not differing_cells(steps[0], reference[0]).any()
    in_sync = torch.ones(len(LABELS), dtype=torch.bool)
    for prev, ours_k, ref_k in zip(steps[:-1], steps[1:], reference[1:]):
        scores = neg_abs_logit(upsample(prev))
        rows = in_sync.nonzero()[:, 0]
        flipped = assert_only_tie_flips(
            ours_k[rows], ref_k[rows], scores[rows], 28 * 28
        )
        in_sync[rows[flipped]] = False
    # Most RoIs have no near tie at all; they match exactly to 224 x 224.
    assert int(in_sync.sum()) >= 3, in_sync
    final_ours, final_ref = refined[:, 0].sigmoid(), reference[-1][:, 0]
    final_ref = final_ref.sigmoid()
    for roi in (~in_sync).nonzero()[:, 0]:
        diff = (final_ours[roi] - final_ref[roi]).abs()
        assert (diff > VALUE_TOL).float().mean() < 0.02
        agree = (final_ours[roi] > 0.5) == (final_ref[roi] > 0.5)
        assert agree.float().mean() > 0.99


def test_training_losses_match_for_fixed_points(heads):
    ref, ours = heads
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 256, 256)] * 2,
        num_items=[3, 2],
        num_classes=80,
        with_mask=True,
    )
    samples = packed['data_samples']
    proposals = demo_mm_proposals([(3, 256, 256)] * 2, 64)

    def fixed_points(mask_preds):
        gen = torch.Generator().manual_seed(7)
        return torch.rand(mask_preds.shape[0], 196, 2, generator=gen)

    ref.point_head.get_roi_rel_points_train = lambda preds, labels, cfg: (
        fixed_points(preds)
    )
    ours.point_head.point_sampler.sample = lambda preds, fn: fixed_points(
        preds
    )
    x = _features()
    ref.train(), ours.train()
    torch.manual_seed(11)
    la = ref.loss(x, copy.deepcopy(proposals), copy.deepcopy(samples))
    torch.manual_seed(11)
    lb = ours.loss(x, copy.deepcopy(proposals), copy.deepcopy(samples))
    ref.eval(), ours.eval()
    for key in ('loss_cls', 'loss_bbox', 'loss_mask', 'loss_point'):
        assert la[key].item() == pytest.approx(
            lb[key].item(), rel=1e-5, abs=1e-7
        ), key


def test_fast_gemm_default_stays_within_rounding_of_mmdet(heads):
    ref, ours = heads
    x = _features()
    fine = torch.randn(5, 256, 300)
    coarse = torch.randn(5, 80, 300)
    ours.point_head.mlp.use_gemm = True
    try:
        with torch.no_grad():
            a = ref.point_head(fine, coarse)
            b = ours.point_head(fine, coarse)
            assert (a - b).abs().max().item() <= 1e-5
            ref_masks = mmdet_final_masks(ref, x)
            _, refined = ours.refine_masks(x, ROIS, LABELS)
    finally:
        ours.point_head.mlp.use_gemm = False
    diff = (ref_masks - refined[:, 0].sigmoid()).abs()
    # Near-tie flips touch a handful of the 5 x 224 x 224 cells.
    assert (diff > 1e-5).float().mean().item() < 1e-3
    assert (
        (ref_masks > 0.5) == (refined[:, 0] > 0)
    ).float().mean().item() > 0.999


def test_projected_and_chunked_render_equals_plain_render(heads, monkeypatch):
    """The fast inference path is the plain path up to rounding.

    Fast: the first layer applied to the whole P2 map, points predicted in
    chunks of RoIs.
    """
    import mmpointrend.models.roi_heads.mask_heads.mask_point_head as chunking

    _, ours = heads
    x = _features()
    mlp = ours.point_head.mlp
    mlp.use_gemm = True
    calls = []
    project = mlp.project_fine

    def counted(feats):
        calls.append(len(feats))
        return project(feats)

    try:
        with torch.no_grad():
            monkeypatch.setattr(mlp, 'project_fine', counted)
            _, fast = ours.refine_masks(x, ROIS, LABELS)
            assert calls == [1]  # 5 x 3136 points > 2 x 64 x 64 pixels
            monkeypatch.setattr(chunking, 'POINTS_PER_CHUNK', 784)
            _, chunked = ours.refine_masks(x, ROIS, LABELS)
            monkeypatch.setattr(mlp, 'project_fine', lambda feats: None)
            monkeypatch.setattr(chunking, 'POINTS_PER_CHUNK', 10**9)
            _, plain = ours.refine_masks(x, ROIS, LABELS)
    finally:
        mlp.use_gemm = False
    for other in (fast, chunked):
        diff = (other - plain).abs()
        # Rounding may flip a near-tie of the top-k; a few cells at most.
        assert (diff > 1e-4).float().mean().item() < 1e-3
        assert diff.median().item() < 1e-6
