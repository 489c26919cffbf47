"""Layer 2 (instance): coarse head, point head and PointRend RoI head."""

import copy
import os.path as osp

import pytest
import torch
from mmdet.testing import demo_mm_inputs, demo_mm_proposals
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmpointrend.models import PointRendCoarseMaskHead, PointRendMaskRoIHead
from mmpointrend.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    ROOT, 'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
)


def roi_head_cfg(num_classes=4, **point_head):
    cfg = Config.fromfile(CONFIG)
    head = copy.deepcopy(cfg.model.roi_head)
    head.train_cfg = cfg.model.train_cfg.rcnn
    head.test_cfg = cfg.model.test_cfg.rcnn
    head.bbox_head.num_classes = num_classes
    head.mask_head.num_classes = num_classes
    head.point_head.num_classes = num_classes
    head.point_head.update(point_head)
    return head


def build_roi_head(**kw):
    from mmdet.registry import MODELS as MMDET_MODELS

    init_default_scope('mmdet')
    torch.manual_seed(0)
    head = MMDET_MODELS.build(roi_head_cfg(**kw))
    head.init_weights()
    return head


def features(batch=2, size=128):
    torch.manual_seed(1)
    return tuple(
        torch.randn(batch, 256, size // s, size // s)
        for s in (4, 8, 16, 32, 64)
    )


def batch_with(num_items, size=128, num_classes=4):
    packed = demo_mm_inputs(
        batch_size=len(num_items),
        image_shapes=[(3, size, size)] * len(num_items),
        num_items=num_items,
        num_classes=num_classes,
        with_mask=True,
    )
    return packed['data_samples']


def proposals_for(samples, num):
    shapes = [(3, *s.metainfo['img_shape']) for s in samples]
    return demo_mm_proposals(shapes, num)


def test_coarse_head_shapes_and_init():
    head = PointRendCoarseMaskHead(
        num_classes=5, in_channels=8, conv_out_channels=8, fc_out_channels=32
    )
    head.init_weights()
    assert head(torch.randn(3, 8, 14, 14)).shape == (3, 5, 7, 7)
    assert head.fc_logits.weight.std() < 0.01
    agnostic = PointRendCoarseMaskHead(
        num_classes=5, in_channels=8, class_agnostic=True
    )
    assert agnostic(torch.randn(2, 8, 14, 14)).shape == (2, 1, 7, 7)
    assert agnostic(torch.randn(0, 8, 14, 14)).shape == (0, 1, 7, 7)
    with pytest.raises(ValueError, match='divisible'):
        PointRendCoarseMaskHead(num_classes=5, roi_feat_size=15)


@pytest.mark.parametrize('num_items', [[3, 2], [0, 2], [0, 0]])
def test_loss_with_and_without_instances(num_items):
    head = build_roi_head()
    samples = batch_with(num_items)
    proposals = proposals_for(samples, 50)
    losses = head.loss(features(), proposals, samples)
    assert {'loss_cls', 'loss_bbox', 'loss_mask', 'loss_point'} <= set(losses)
    total = sum(
        v for k, v in losses.items() if 'loss' in k and torch.is_tensor(v)
    )
    assert torch.isfinite(total)
    total.backward()
    if sum(num_items) == 0:
        assert losses['loss_point'].item() == 0.0


def test_train_on_pred_boxes_uses_regressed_boxes():
    head = build_roi_head()
    head.train_on_pred_boxes = True
    samples = batch_with([3, 1])
    proposals = proposals_for(samples, 40)
    props = torch.cat([p.bboxes for p in proposals])  # loss() pops them
    seen, calls = [], []
    original = head._mask_forward
    head._mask_forward = lambda x, rois: seen.append(rois) or original(x, rois)
    boxes_fn = head.mask_train_boxes
    head.mask_train_boxes = lambda x, res: (
        calls.append((res, boxes_fn(x, res))) or calls[-1][1]
    )
    feats = features()
    losses = head.loss(feats, proposals, samples)
    assert torch.isfinite(losses['loss_point'])
    # The mask branch saw boxes that are not the proposals themselves...
    rois = seen[0][:, 1:]
    matches = (rois[:, None] - props[None]).abs().sum(-1).min(1).values
    assert (matches > 1e-4).any()
    # ...but each positive's box-head regression for its ground-truth
    # class, evaluated here one RoI at a time.
    sampling_results, boxes = calls[0]
    assert torch.equal(rois, torch.cat(boxes))
    for img, (res, img_boxes) in enumerate(zip(sampling_results, boxes)):
        for prior, label, box in zip(
            res.pos_priors, res.pos_gt_labels, img_boxes
        ):
            roi = torch.cat([prior.new_tensor([img]), prior])[None]
            with torch.no_grad():
                deltas = head._bbox_forward(feats, roi)
            delta = deltas['bbox_pred'].view(1, -1, 4)[:, label]
            expected = head.bbox_head.bbox_coder.decode(prior[None], delta)
            assert torch.allclose(box, expected[0], atol=1e-4)


def _results(boxes, labels):
    res = InstanceData()
    res.bboxes = torch.tensor(boxes, dtype=torch.float32).view(-1, 4)
    res.labels = torch.tensor(labels, dtype=torch.long)
    res.scores = torch.rand(len(labels))
    return res


def _metas(n, size=128):
    return [
        dict(
            img_shape=(size, size),
            ori_shape=(size, size),
            scale_factor=(1.0, 1.0),
        )
        for _ in range(n)
    ]


def test_predict_mixed_empty_degenerate_and_outside_boxes():
    head = build_roi_head()
    results = [
        _results([], []),  # an image without detections inside the batch
        _results(
            [
                [10, 10, 60, 70],
                [30, 30, 30, 50],
                [100, 90, 160, 150],
                [20, 40, 21, 40],
            ],
            [1, 3, 0, 2],
        ),  # normal, zero-width, partly outside, zero-size
    ]
    with torch.no_grad():
        out = head.predict_mask(features(), _metas(2), results, rescale=False)
    assert out[0].masks.shape == (0, 128, 128)
    assert (
        out[1].masks.shape == (4, 128, 128)
        and out[1].masks.dtype == torch.bool
    )
    # Nothing is pasted outside a detection's box.
    masks = out[1].masks
    assert not masks[0, :5].any() and not masks[0, :, 70:].any()


def test_predict_all_images_empty():
    head = build_roi_head()
    with torch.no_grad():
        out = head.predict_mask(
            features(), _metas(2), [_results([], []), _results([], [])]
        )
    assert out[0].masks.shape == (0, 128, 128) and out[1].masks.shape == (
        0,
        128,
        128,
    )


def dense_reference(head, feats, rois, coarse, levels, strides, size=224):
    """Every class's point-head logits on the whole ``size`` grid of each RoI.

    Written here with ``grid_sample`` alone: cell centres of the RoI grid,
    to image pixels, to each level's ``align_corners=False`` grid (a
    feature cell of stride s covers image pixels ``[i s, (i + 1) s)``).

    Returns:
        Tensor: (R, K, size, size) logits.
    """
    import torch.nn.functional as F

    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gy, gx = torch.meshgrid(centres, centres, indexing='ij')
    rel = torch.stack([gx.flatten(), gy.flatten()], -1)  # (P, 2) as (x, y)
    fine, coarse_at = [], []
    for roi, maps in zip(rois, coarse):
        x1, y1, x2, y2 = roi[1:].tolist()
        img = torch.stack(
            [x1 + rel[:, 0] * (x2 - x1), y1 + rel[:, 1] * (y2 - y1)], -1
        )
        per_level = []
        for level, stride in zip(levels, strides):
            fmap = feats[level][int(roi[0])][None]
            height, width = fmap.shape[-2:]
            grid = torch.stack(
                [
                    2 * img[:, 0] / (stride * width) - 1,
                    2 * img[:, 1] / (stride * height) - 1,
                ],
                -1,
            )
            per_level.append(
                F.grid_sample(fmap, grid[None, None], align_corners=False)[
                    0, :, 0
                ]
            )
        fine.append(torch.cat(per_level))
        coarse_at.append(
            F.grid_sample(
                maps[None], (2 * rel - 1)[None, None], align_corners=False
            )[0, :, 0]
        )
    logits = head.point_head(torch.stack(fine), torch.stack(coarse_at))
    return logits.reshape(len(rois), -1, size, size)


def _varied(head):
    """Non-trivial point-head weights: classes' logits differ clearly."""
    torch.manual_seed(5)
    with torch.no_grad():
        for param in head.point_head.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return head


def test_refinement_renders_only_predicted_class_to_224():
    """The render is the predicted class's channel of the dense oracle.

    With N >= 224^2 points every step re-predicts every cell, so the result
    is the point head's logits on the full 224 x 224 grid (computed here
    independently): of the predicted class, and of no other class.
    """
    head = _varied(build_roi_head())
    head.test_cfg.subdivision_num_points = 224 * 224
    rois = torch.tensor([[0, 10.0, 10, 60, 70], [1, 5, 5, 100, 90]])
    labels = torch.tensor([2, 0])
    feats = features()
    with torch.no_grad():
        coarse, refined = head.refine_masks(feats, rois, labels)
        dense = dense_reference(head, feats, rois, coarse, [0], [4])
    assert coarse.shape == (2, 4, 7, 7)
    assert refined.shape == (2, 1, 224, 224)
    for i, label in enumerate(labels.tolist()):
        torch.testing.assert_close(
            refined[i, 0], dense[i, label], atol=1e-4, rtol=1e-4
        )
        for other in set(range(4)) - {label}:
            assert (refined[i, 0] - dense[i, other]).abs().max() > 0.1


@pytest.mark.parametrize('coarse_agnostic', [False, True])
def test_class_agnostic_point_head_trains_and_predicts(coarse_agnostic):
    from mmdet.registry import MODELS as MMDET_MODELS

    init_default_scope('mmdet')
    cfg = roi_head_cfg(
        class_agnostic=True, coarse_channels=1 if coarse_agnostic else None
    )
    cfg.mask_head.class_agnostic = coarse_agnostic
    head = MMDET_MODELS.build(cfg)
    head.init_weights()
    samples = batch_with([2, 1])
    proposals = proposals_for(samples, 30)
    losses = head.loss(features(), proposals, samples)
    assert torch.isfinite(losses['loss_point'])
    results = [
        _results([[10, 10, 60, 70]], [3]),
        _results([[0, 0, 50, 40], [60, 60, 90, 100]], [1, 2]),
    ]
    with torch.no_grad():
        out = head.predict_mask(features(), _metas(2), results)
    assert out[1].masks.shape == (2, 128, 128)


def test_rescale_pastes_into_original_size():
    head = build_roi_head()
    metas = [
        dict(
            img_shape=(128, 128),
            ori_shape=(64, 96),
            scale_factor=(128 / 96, 2.0),
        )
    ]
    with torch.no_grad():
        out = head.predict_mask(
            features(1),
            metas,
            [_results([[10, 10, 60, 70]], [1])],
            rescale=True,
        )
    assert out[0].masks.shape == (1, 64, 96)
    assert torch.allclose(out[0].bboxes, torch.tensor([[7.5, 5, 45, 35]]))


@pytest.mark.parametrize(
    'mutate, match',
    [
        (lambda c: c.point_head.update(num_classes=7), 'num_classes'),
        (lambda c: c.point_head.update(coarse_channels=3), 'coarse_channels'),
        (
            lambda c: c.update(fine_feat_index=[0, 1], fine_feat_strides=[4]),
            'one stride',
        ),
    ],
)
def test_roi_head_build_errors(mutate, match):
    from mmdet.registry import MODELS as MMDET_MODELS

    init_default_scope('mmdet')
    cfg = roi_head_cfg()
    mutate(cfg)
    with pytest.raises(ValueError, match=match):
        MMDET_MODELS.build(cfg)


def test_independent_fine_levels():
    """Two fine levels: each read at its own stride, concatenated in order.

    Compared by value with the dense oracle; a level not chosen changes
    nothing, a chosen one changes the render.
    """
    head = _varied(build_roi_head(in_channels=512))
    head.fine_feat_index, head.fine_feat_strides = [0, 1], [4, 8]
    head.test_cfg.subdivision_num_points = 224 * 224
    rois = torch.tensor([[0, 10.0, 10, 60, 70]])
    labels = torch.tensor([1])
    feats = features(1)
    with torch.no_grad():
        coarse, refined = head.refine_masks(feats, rois, labels)
        dense = dense_reference(head, feats, rois, coarse, [0, 1], [4, 8])
        torch.testing.assert_close(
            refined[0, 0], dense[0, 1], atol=1e-4, rtol=1e-4
        )
        # reading level 1 at stride 4 (a plausible bug) gives another map
        wrong = dense_reference(head, feats, rois, coarse, [0, 1], [4, 4])
        assert (refined[0, 0] - wrong[0, 1]).abs().max() > 0.1
        other = list(feats)
        other[2] = torch.randn_like(feats[2])  # a level that is not read
        assert torch.equal(
            head.refine_masks(tuple(other), rois, labels)[1], refined
        )
        other[1] = torch.randn_like(feats[1])  # the second fine level
        _, changed = head.refine_masks(tuple(other), rois, labels)
        assert (changed - refined).abs().max() > 0.1


def test_registered_names_are_unique():
    import mmdet.models  # noqa: F401
    from mmdet.registry import MODELS as MMDET_MODELS

    ours = {
        'GridRoIExtractor',
        'PointRendCoarseMaskHead',
        'PointRendMaskPointHead',
        'PointRendMaskRoIHead',
    }
    assert ours <= set(MODELS.module_dict)
    assert not ours & set(MMDET_MODELS.module_dict)
    from mmdet.models.roi_heads import StandardRoIHead

    assert issubclass(PointRendMaskRoIHead, StandardRoIHead)
