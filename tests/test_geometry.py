"""Layer 1: oracles for the point-geometry core (pure torch)."""

import pytest
import torch
import torch.nn.functional as F

from mmpointrend.models.utils import (
    UncertaintyPointSampler,
    blocked_topk,
    cell_centers,
    image_points_to_map,
    neg_abs_logit,
    plan_subdivision,
    point_sample,
    regular_grid_points,
    render_by_subdivision,
    roi_points_to_image,
    sample_masks_at_points,
    sample_roi_points,
    semantic_uncertainty,
    top2_logit_gap,
    topk_cells,
)


def test_grid_points_are_cell_centres():
    pts = regular_grid_points(2, 3, 4)
    assert pts.shape == (2, 12, 2)
    # Hand-computed: cell (row 1, col 2) of a 3x4 grid is flat index 6.
    assert torch.allclose(pts[0, 6], torch.tensor([2.5 / 4, 1.5 / 3]))
    assert torch.allclose(pts[0, 0], torch.tensor([0.125, 1 / 6]))
    assert torch.allclose(pts[1, 11], torch.tensor([3.5 / 4, 2.5 / 3]))


def test_cell_centers_match_grid_for_any_indices():
    idx = torch.tensor([[5, 0, 11, 7]])
    assert torch.equal(
        cell_centers(idx, 3, 4), regular_grid_points(1, 3, 4)[:, idx[0]]
    )


def test_sampling_at_cell_centres_equals_gathering():
    feats = torch.randn(2, 5, 7, 9, dtype=torch.float64)
    pts = regular_grid_points(2, 7, 9, dtype=torch.float64)
    out = point_sample(feats, pts)
    assert out.shape == (2, 5, 63)
    assert torch.allclose(out, feats.flatten(2), atol=1e-12)


def test_gridded_points_keep_grid_shape():
    feats = torch.randn(1, 2, 4, 4)
    grid = regular_grid_points(1, 4, 4).view(1, 4, 4, 2)
    assert torch.allclose(point_sample(feats, grid), feats, atol=1e-6)


def test_bilinear_midpoint_is_average():
    feats = torch.tensor([[[[0.0, 4.0]]]])  # 1x2 map
    # x = 0.5 lies halfway between the two cell centres 0.25 and 0.75.
    out = point_sample(feats, torch.tensor([[[0.5, 0.5]]]))
    assert out.item() == pytest.approx(2.0)


def test_fine_grid_sampling_matches_interpolate_inside():
    # With zero padding only the border ring differs from F.interpolate.
    feats = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    up = F.interpolate(
        feats, scale_factor=2, mode='bilinear', align_corners=False
    )
    pts = regular_grid_points(1, 12, 12, dtype=torch.float64)
    sampled = point_sample(feats, pts, padding_mode='border').view(
        1, 3, 12, 12
    )
    assert torch.allclose(sampled, up, atol=1e-12)
    zero_pad = point_sample(feats, pts).view(1, 3, 12, 12)
    assert torch.allclose(zero_pad[..., 1:-1, 1:-1], up[..., 1:-1, 1:-1])
    assert not torch.allclose(zero_pad[..., 0, :], up[..., 0, :])


def test_half_precision_maps_are_read_in_fp32():
    feats = torch.randn(1, 2, 5, 5).half()
    pts = regular_grid_points(1, 5, 5)
    assert point_sample(feats, pts).dtype == torch.float16
    assert torch.allclose(
        point_sample(feats, pts).float(), feats.float().flatten(2)
    )


def test_roi_to_image_to_map_round_trip():
    boxes = torch.tensor([[10.0, 20.0, 50.0, 40.0]])
    rel = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.25, 0.5]]])
    absolute = roi_points_to_image(boxes, rel)
    assert torch.allclose(
        absolute, torch.tensor([[[10.0, 20.0], [50.0, 40.0], [20.0, 30.0]]])
    )
    # Stride-4 map of 16x32 covers 128x64 pixels.
    norm = image_points_to_map(absolute, (16, 32), 4)
    assert torch.allclose(norm[0, 2], torch.tensor([20 / 128, 30 / 64]))


def test_roi_grid_sampling_equals_roi_align_aligned():
    mmcv_ops = pytest.importorskip('mmcv.ops')
    feats = torch.randn(2, 4, 24, 32)
    rois = torch.tensor(
        [
            [0, 8.0, 4.0, 60.0, 50.0],
            [1, 0.0, 0.0, 127.0, 95.0],
            [0, 33.3, 17.1, 40.2, 90.0],
        ]
    )
    grid = regular_grid_points(3, 7, 7)
    ours = sample_roi_points([feats], [4], rois, grid).view(3, 4, 7, 7)
    ref = mmcv_ops.roi_align(feats, rois, (7, 7), 0.25, 1, 'avg', True)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_sample_roi_points_handles_zero_rois_and_levels():
    feats = [torch.randn(1, 3, 8, 8), torch.randn(1, 5, 4, 4)]
    out = sample_roi_points(
        feats, [4, 8], torch.zeros(0, 5), torch.rand(0, 6, 2)
    )
    assert out.shape == (0, 8, 6)
    with pytest.raises(ValueError, match='one stride per'):
        sample_roi_points(feats, [4], torch.zeros(0, 5), torch.rand(0, 6, 2))


@pytest.mark.parametrize('batch', [1, 2])
def test_sample_roi_points_sum_adds_the_levels(batch):
    feats = [torch.randn(batch, 3, 8, 8), torch.randn(batch, 3, 4, 4)]
    rois = torch.tensor([[0, 1.0, 2.0, 20.0, 25.0], [batch - 1, 0, 0, 9, 9]])
    points = torch.rand(2, 7, 2)
    cat = sample_roi_points(feats, [4, 8], rois, points)
    total = sample_roi_points(feats, [4, 8], rois, points, reduce='sum')
    assert torch.allclose(total, cat[:, :3] + cat[:, 3:], atol=1e-6)
    with pytest.raises(ValueError, match='reduce'):
        sample_roi_points(feats, [4, 8], rois, points, reduce='mean')


def test_top2_gap_hand_computed():
    logits = torch.tensor([[[1.0], [3.0], [2.5]]])  # (B=1, K=3, P=1)
    assert top2_logit_gap(logits).item() == pytest.approx(-0.5)
    with pytest.raises(ValueError, match='neg_abs_logit'):
        top2_logit_gap(torch.zeros(1, 1, 3))
    # One channel (sigmoid) falls back to -|logit|.
    assert semantic_uncertainty(torch.tensor([[[-2.0, 0.5]]])).tolist() == [
        [-2.0, -0.5]
    ]


def test_neg_abs_logit_picks_class_channel():
    logits = torch.tensor(
        [[[1.0, -3.0], [0.2, 5.0]], [[4.0, 0.0], [-1.0, 2.0]]]
    )
    out = neg_abs_logit(logits, torch.tensor([1, 0]))
    assert torch.allclose(out, torch.tensor([[-0.2, -5.0], [-4.0, 0.0]]))
    with pytest.raises(ValueError, match='classes'):
        neg_abs_logit(logits)


def test_sampler_counts_and_ranking():
    torch.manual_seed(0)
    sampler = UncertaintyPointSampler(
        196, oversample_ratio=3, importance_sample_ratio=0.75
    )
    assert (sampler.num_candidates, sampler.num_uncertain) == (588, 147)
    # Logit 0 (maximally uncertain) only in the band 0.4 <= x < 0.6.
    logits = torch.full((2, 1, 50, 50), 8.0)
    logits[..., 20:30] = 0.0
    pts = sampler.sample(logits, lambda p: neg_abs_logit(p))
    assert pts.shape == (2, 196, 2)
    uncertain = pts[:, :147, 0]
    # ~20% of 588 candidates (~118) lie strictly inside the band; those must
    # be ranked first.
    inside = ((uncertain > 0.41) & (uncertain < 0.59)).sum(1)
    assert (inside >= 100).all()
    assert pts.min() >= 0 and pts.max() < 1


def test_sampler_rejects_bad_arguments():
    for kwargs, msg in [
        (dict(num_points=0), 'positive'),
        (dict(num_points=-5), 'positive'),
        (dict(num_points=10, oversample_ratio=0.5), '>= 1'),
        (dict(num_points=10, importance_sample_ratio=1.5), r'\[0, 1\]'),
    ]:
        with pytest.raises(ValueError, match=msg):
            UncertaintyPointSampler(**kwargs)


def _dense_predictor(weight):
    """A point 'head' that is a linear function of a fine map at the points."""
    fine = torch.randn(1, 3, 32, 32)

    def predict(points):
        return torch.einsum('kc,bcp->bkp', weight, point_sample(fine, points))

    return fine, predict


def test_subdivision_with_enough_points_equals_dense_prediction():
    weight = torch.randn(4, 3)
    fine, predict = _dense_predictor(weight)
    coarse = torch.randn(1, 4, 4, 4)
    out = render_by_subdivision(
        coarse, predict, semantic_uncertainty, 2, 16 * 16
    )
    dense = predict(regular_grid_points(1, 16, 16)).view(1, 4, 16, 16)
    assert out.shape == (1, 4, 16, 16)
    assert torch.allclose(out, dense, atol=1e-6)


def test_subdivision_only_touches_selected_cells():
    weight = torch.randn(4, 3)
    _, predict = _dense_predictor(weight)
    coarse = torch.randn(1, 4, 8, 8)
    out = render_by_subdivision(coarse, predict, semantic_uncertainty, 1, 10)
    up = F.interpolate(
        coarse, scale_factor=2, mode='bilinear', align_corners=False
    )
    changed = (out != up).any(1).flatten()
    assert changed.sum() == 10
    # The changed cells are the 10 most uncertain of the upsampled map.
    top = semantic_uncertainty(up).flatten().topk(10).indices
    assert set(torch.nonzero(changed).flatten().tolist()) == set(top.tolist())


def test_plan_matches_detectron2_instance_rule():
    # 7x7 coarse, N=784, 5 steps -> render 28x28, then 3 steps to 224.
    assert plan_subdivision((7, 7), 5, 784, 2, True) == ((28, 28), 3)
    assert plan_subdivision((7, 7), 5, 784, 2, False) == (None, 5)
    assert plan_subdivision((7, 7), 5, 100, 2, True) == ((7, 7), 5)
    assert plan_subdivision((7, 7), 1, 10**6, 2, True) == ((14, 14), 0)


@pytest.mark.parametrize('num_classes', [2, 3, 19])
def test_top2_gap_equals_topk_including_ties(num_classes):
    torch.manual_seed(num_classes)
    logits = torch.randint(-3, 4, (2, num_classes, 9, 7)).float()  # many ties
    top2 = logits.topk(2, dim=1).values
    assert torch.equal(top2_logit_gap(logits), top2[:, 1] - top2[:, 0])
    points = torch.randn(3, num_classes, 50)
    top2 = points.topk(2, dim=1).values
    assert torch.equal(top2_logit_gap(points), top2[:, 1] - top2[:, 0])


@pytest.mark.parametrize(
    'rows, n, k',
    [
        (1, 2**16, 512),  # groups of 16
        (5, 56 * 56, 98),  # 3136 = 16 * 196: groups of 8 (>= 4 per point)
        (2, 37 * 53, 40),  # odd n: a plain topk
        (3, 64, 16),  # n / k too small: a plain topk
        (2, 100, 100),  # every cell
    ],
)
@pytest.mark.parametrize('ties', [False, True])
def test_blocked_topk_selects_the_topk_values(rows, n, k, ties):
    """The same values as a dense topk; with ties, any of the tied cells."""
    gen = torch.Generator().manual_seed(n + k)
    if ties:  # 5 distinct values: the k-th value ties with many cells
        scores = torch.randint(0, 5, (rows, n), generator=gen).float()
    else:
        scores = torch.randn(rows, n, generator=gen)
    got = blocked_topk(scores, k)
    assert got.shape == (rows, k)
    assert (got.sort(dim=1).values.diff(dim=1) > 0).all()  # distinct cells
    want = scores.topk(k, dim=1).values.sort(dim=1).values
    assert torch.equal(scores.gather(1, got).sort(dim=1).values, want)
    if not ties:  # distinct scores: the set itself is defined
        dense = scores.topk(k, dim=1).indices.sort(dim=1).values
        assert torch.equal(got.sort(dim=1).values, dense)


def test_topk_cells_ascending_and_clipped():
    scores = torch.randn(2, 4096)
    idx = topk_cells(scores, 100)
    assert (idx.diff(dim=1) > 0).all()
    assert torch.equal(idx, scores.topk(100, dim=1).indices.sort(1).values)
    assert topk_cells(scores[:, :50], 100).shape == (2, 50)


def test_mask_targets_equal_grid_sample_of_float_masks():
    torch.manual_seed(0)
    masks = torch.rand(3, 20, 30) > 0.5
    index = torch.tensor([2, 0, 2, 1])
    # Points inside, on edges and outside the image.
    pts = torch.rand(4, 50, 2) * torch.tensor([36.0, 26.0]) - 3.0
    ours = sample_masks_at_points(masks, index, pts)
    norm = pts / torch.tensor([30.0, 20.0])
    ref = torch.stack(
        [
            point_sample(masks[i][None, None].float(), norm[r][None])[0, 0]
            for r, i in enumerate(index.tolist())
        ]
    )
    assert torch.allclose(ours, ref, atol=1e-6)
    assert ours.min() >= 0 and ours.max() <= 1
    assert sample_masks_at_points(masks[:0], index[:0], pts[:0]).shape == (
        0,
        50,
    )


def test_renderer_reports_every_step():
    weight = torch.randn(4, 3)
    _, predict = _dense_predictor(weight)
    seen = []
    out = render_by_subdivision(
        torch.randn(1, 4, 4, 4),
        predict,
        semantic_uncertainty,
        3,
        64,
        on_step=lambda logits, idx: seen.append(
            (logits.shape[-1], None if idx is None else idx.shape[1])
        ),
    )
    # 8x8 = 64 cells: dense; 16 and 32: 64 refined cells each.
    assert seen == [(8, None), (16, 64), (32, 64)]
    assert out.shape == (1, 4, 32, 32)
