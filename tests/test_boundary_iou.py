"""Boundary IoU: oracles, hand-computed cases and the semantic evaluator."""

import cv2
import numpy as np
import pytest
import torch

from mmpointrend.evaluation import (
    BoundaryIoUMetric,
    boundary_band,
    boundary_dilation,
    boundary_iou,
    boundary_stats,
)


def reference_band(mask, dilation):
    """The paper's definition: 1-pixel background pad, 3x3 erosion d times."""
    padded = cv2.copyMakeBorder(
        mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0
    )
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=dilation)[
        1:-1, 1:-1
    ]
    return mask.astype(bool) & ~eroded.astype(bool)


@pytest.mark.parametrize('dilation', [1, 2, 5])
def test_band_equals_iterated_erosion_oracle(dilation):
    rng = np.random.default_rng(dilation)
    masks = rng.random((4, 37, 53)) > 0.4
    masks[0] = False
    masks[1] = True  # the whole image: only the border band remains
    ours = boundary_band(torch.from_numpy(masks), dilation).numpy()
    for m, o in zip(masks, ours):
        assert np.array_equal(o, reference_band(m, dilation))


def test_dilation_follows_image_diagonal():
    assert (
        boundary_dilation(1024, 2048)
        == round(0.02 * np.hypot(1024, 2048))
        == 46
    )
    assert boundary_dilation(10, 10) == 1  # never below one pixel


def test_square_vs_shifted_square_by_hand():
    a = torch.zeros(1, 100, 100, dtype=torch.bool)
    a[0, 20:60, 20:60] = True
    b = torch.zeros_like(a)
    b[0, 20:60, 30:70] = True  # shifted right by 10
    d = boundary_dilation(100, 100)  # round(0.02 * 141.4) = 3
    assert d == 3
    # Bands are 3-pixel frames: 40^2 - 34^2 = 444 pixels each.
    assert boundary_band(a, d).sum() == 444
    # The frames overlap only in their top and bottom strips over the shared
    # columns x = 30..59; each one's vertical strips lie inside the other's
    # interior (a's right edge x = 57..59, b's left edge x = 30..32).
    inter = (boundary_band(a, d) & boundary_band(b, d)).sum().item()
    assert inter == 2 * 3 * 30
    expected = inter / (2 * 444 - inter)
    assert boundary_iou(a, b).item() == pytest.approx(expected)
    mask_iou = (a & b).sum().item() / (a | b).sum().item()
    assert boundary_iou(a, b).item() < mask_iou  # boundaries are stricter


def test_invariants():
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.random((3, 64, 64)) > 0.5)
    b = torch.from_numpy(rng.random((3, 64, 64)) > 0.5)
    assert torch.allclose(
        boundary_iou(a, a), torch.ones(3, dtype=torch.float64)
    )
    assert torch.allclose(boundary_iou(a, b), boundary_iou(b, a))
    disjoint_a = torch.zeros(1, 64, 64, dtype=torch.bool)
    disjoint_a[0, :, :20] = True
    disjoint_b = torch.zeros_like(disjoint_a)
    disjoint_b[0, :, 40:] = True
    assert boundary_iou(disjoint_a, disjoint_b).item() == 0.0
    empty = torch.zeros(1, 64, 64, dtype=torch.bool)
    assert boundary_iou(empty, empty).item() == 1.0
    assert boundary_iou(empty, disjoint_a).item() == 0.0


def test_thin_structure_is_all_boundary():
    bar = torch.zeros(1, 200, 200, dtype=torch.bool)
    bar[0, 100:103, 20:180] = True  # 3 pixels thick, band width 6
    assert torch.equal(boundary_band(bar, boundary_dilation(200, 200)), bar)
    shifted = torch.roll(bar, 3, dims=1)  # a 3-pixel miss: no overlap at all
    assert boundary_iou(bar, shifted).item() == 0.0


def test_semantic_stats_ignore_and_absent_classes():
    label = torch.zeros(50, 50, dtype=torch.long)
    label[10:30, 10:30] = 1
    label[:, 45:] = 255
    pred = label.clone()
    pred[pred == 255] = 2  # predictions under ignored pixels do not count
    stats = boundary_stats(pred, label, num_classes=4, ignore_index=255)
    assert stats.shape == (4, 2)
    assert torch.equal(stats[:, 0], stats[:, 1])  # perfect on valid pixels
    assert stats[2].sum() == 0 and stats[3].sum() == 0


def test_evaluator_reports_miou_and_mbiou():
    metric = BoundaryIoUMetric(boundary_fscore=True)
    metric.dataset_meta = dict(classes=('bg', 'square', 'bar'))
    label = torch.zeros(1, 100, 100, dtype=torch.long)
    label[0, 20:60, 20:60] = 1
    label[0, 80:83, 10:90] = 2
    pred = label.clone()
    pred[0, 20:60, 20:60] = 0
    pred[0, 20:60, 30:70] = 1  # square shifted by 10 pixels
    samples = [dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=label))]
    metric.process({}, samples)
    results = metric.evaluate(1)
    assert {'mIoU', 'mBIoU', 'mBF'} <= set(results)
    assert 0 < results['mBIoU'] < results['mIoU'] < 100
    single = boundary_iou(label[0:1] == 1, pred[0:1] == 1).item()
    bar_biou = 100.0  # the bar is predicted exactly
    bg = boundary_stats(pred[0], label[0], 3, 255)[0]
    expected = (bg[0] / bg[1] * 100 + single * 100 + bar_biou) / 3
    assert results['mBIoU'] == pytest.approx(float(expected), abs=0.01)


def _square(size, y0, x0, side):
    mask = np.zeros(size, np.uint8)
    mask[y0 : y0 + side, x0 : x0 + side] = 1
    return mask


def test_rle_band_cropped_equals_full_image_band():
    from pycocotools import mask as mask_utils

    from mmpointrend.evaluation import rle_boundary

    for y0, x0 in [(30, 40), (0, 0), (90, 130)]:  # inside, at and over borders
        mask = _square((120, 160), y0, x0, 40)
        rle = mask_utils.encode(np.asfortranarray(mask))
        ours = mask_utils.decode(rle_boundary(rle, 0.02)).astype(bool)
        full = boundary_band(
            torch.from_numpy(mask.astype(bool))[None],
            boundary_dilation(120, 160),
        )[0].numpy()
        assert np.array_equal(ours, full)


def _coco_gt(tmp_path):
    import json

    from pycocotools import mask as mask_utils

    anns = []
    for img_id, (y0, x0) in [(1, (20, 20)), (1, (60, 90)), (2, (30, 50))]:
        rle = mask_utils.encode(
            np.asfortranarray(_square((128, 160), y0, x0, 40))
        )
        rle['counts'] = rle['counts'].decode()
        anns.append(
            dict(
                id=len(anns) + 1,
                image_id=img_id,
                category_id=1,
                segmentation=rle,
                area=1600.0,
                bbox=[x0, y0, 40, 40],
                iscrowd=0,
            )
        )
    gt = dict(
        images=[
            dict(id=i, width=160, height=128, file_name=f'{i}.png')
            for i in (1, 2, 3)
        ],
        annotations=anns,
        categories=[dict(id=1, name='square')],
    )
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt))
    return str(path), [(1, 20, 20), (1, 60, 90), (2, 30, 50)]


def _run_metric(path, boxes, shift):
    from mmdet.registry import METRICS
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    metric = METRICS.build(
        dict(
            type='mmpointrend.BoundaryCocoMetric',
            ann_file=path,
            metric=['bbox', 'segm'],
        )
    )
    metric.dataset_meta = dict(classes=('square',))
    samples = []
    for img_id in (1, 2, 3):  # image 3 has neither objects nor detections
        mine = [(y0, x0 + shift) for i, y0, x0 in boxes if i == img_id]
        masks = (
            np.stack([_square((128, 160), y0, x0, 40) for y0, x0 in mine])
            if mine
            else np.zeros((0, 128, 160))
        )
        pred = dict(
            bboxes=torch.tensor(
                [[x0, y0, x0 + 40, y0 + 40] for y0, x0 in mine],
                dtype=torch.float32,
            ).view(-1, 4),
            scores=torch.ones(len(mine)),
            labels=torch.zeros(len(mine), dtype=torch.long),
            masks=torch.from_numpy(masks.astype(bool)),
        )
        samples.append(
            dict(img_id=img_id, ori_shape=(128, 160), pred_instances=pred)
        )
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_boundary_ap_perfect_and_shifted(tmp_path):
    path, boxes = _coco_gt(tmp_path)
    perfect = _run_metric(path, boxes, 0)
    assert perfect['coco/segm_mAP'] == pytest.approx(1.0)
    assert perfect['coco/boundary_mAP'] == pytest.approx(1.0)
    shifted = _run_metric(path, boxes, 3)  # 3-pixel error on 40-pixel squares
    assert shifted['coco/segm_mAP_50'] == pytest.approx(1.0)
    assert shifted['coco/boundary_mAP'] < shifted['coco/segm_mAP']


def test_semantic_stats_equal_per_class_band_definition():
    rng = np.random.default_rng(3)
    blocks = torch.from_numpy(rng.integers(0, 5, (12, 16)))
    label = blocks.repeat_interleave(7, 0).repeat_interleave(9, 1)
    label[rng.random(label.shape) < 0.02] = 255  # scattered ignore pixels
    pred = torch.roll(label, (2, 3), (0, 1))
    pred[pred == 255] = 1
    stats = boundary_stats(pred, label, 5, 255)
    d = boundary_dilation(*label.shape)
    valid = label != 255
    for c in range(5):
        g = boundary_band((label == c)[None], d)[0]
        p = boundary_band(((pred == c) & valid)[None], d)[0]
        assert stats[c, 0] == (g & p).sum()
        assert stats[c, 1] == (g | p).sum()
