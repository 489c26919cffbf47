"""Layer 2: the refiner study's scores, table and picture, hand-computed."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mmpointrend.analysis.refine_report import (
    INSTANCE_KEYS,
    best_crop,
    instance_scores,
    object_scores,
    picture,
    semantic_scores,
    study_table,
)


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=list(rle['size']), counts=rle['counts'].decode())


def _box(h, w, y1, x1, y2, x2):
    m = np.zeros((h, w), np.uint8)
    m[y1:y2, x1:x2] = 1
    return m


@pytest.fixture
def two_squares(tmp_path):
    """A COCO file of one 64x64 image with two squares of category 7."""
    gts = [_box(64, 64, 4, 4, 24, 24), _box(64, 64, 36, 36, 60, 60)]
    coco = dict(
        images=[dict(id=3, file_name='a.png', height=64, width=64)],
        categories=[dict(id=7, name='thing')],
        annotations=[
            dict(
                id=i + 1,
                image_id=3,
                category_id=7,
                segmentation=_rle(m),
                area=float(m.sum()),
                bbox=[float(v) for v in mask_utils.toBbox(_rle(m))],
                iscrowd=0,
            )
            for i, m in enumerate(gts)
        ],
    )
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(coco))
    return str(ann), gts


def _write_instances(folder, masks, scores):
    folder.mkdir()
    doc = dict(
        image='a.png',
        height=64,
        width=64,
        instances=[
            dict(bbox=[0, 0, 1, 1], score=s, label=0, segmentation=_rle(m))
            for m, s in zip(masks, scores)
        ],
    )
    (folder / 'a.png.json').write_text(json.dumps(doc))
    return str(folder)


def test_instance_scores_by_hand(tmp_path, two_squares):
    ann, gts = two_squares
    exact = _write_instances(tmp_path / 'exact', gts, [0.9, 0.8])
    assert instance_scores(ann, exact) == pytest.approx(
        dict(segm_mAP=1.0, boundary_mAP=1.0)
    )
    # one object found exactly, the other missed: precision 1 up to recall
    # 0.5, so 51 of COCO's 101 recall thresholds, at every IoU threshold
    half = _write_instances(tmp_path / 'half', gts[:1], [0.9])
    assert instance_scores(ann, half)['segm_mAP'] == pytest.approx(51 / 101)
    # the first square one pixel narrower: mask IoU 380/400 = 0.95 passes
    # every threshold up to 0.95; its boundary band (2% of the diagonal,
    # 2 px) loses more, so Boundary AP is lower than mask AP
    narrow = gts[0].copy()
    narrow[:, 23] = 0
    shrunk = _write_instances(
        tmp_path / 'shrunk', [narrow, gts[1]], [0.9, 0.8]
    )
    scores = instance_scores(ann, shrunk)
    assert scores['segm_mAP'] == pytest.approx(1.0)
    assert scores['boundary_mAP'] < scores['segm_mAP']
    with pytest.raises(FileNotFoundError, match='a.png'):
        instance_scores(ann, str(tmp_path))


def test_semantic_scores_by_hand(tmp_path):
    gt_dir, pred_dir = tmp_path / 'gt', tmp_path / 'pred'
    gt_dir.mkdir()
    pred_dir.mkdir()
    gt = np.zeros((10, 10), np.uint8)
    gt[:, :5] = 1
    gt[0, 9] = 255  # ignored
    pred = np.zeros((10, 10), np.uint8)
    pred[:, :4] = 1
    pred[0, 9] = 1  # under the ignored pixel: does not count
    cv2.imwrite(str(gt_dir / 'x.png'), gt)
    cv2.imwrite(str(pred_dir / 'x.jpg.png'), pred)
    scores = semantic_scores(str(gt_dir), str(pred_dir), num_classes=3)
    # class 1: 40 / 50; class 0: 49 / 59 (class 2 absent: not averaged)
    assert scores['mIoU'] == pytest.approx((40 / 50 + 49 / 59) / 2)
    assert 0 < scores['mBIoU'] < scores['mIoU']
    cv2.imwrite(str(pred_dir / 'x.jpg.png'), gt)
    same = semantic_scores(str(gt_dir), str(pred_dir), num_classes=3)
    assert same == pytest.approx(dict(mIoU=1.0, mBIoU=1.0))
    cv2.imwrite(str(pred_dir / 'x.jpg.png'), np.zeros((5, 10), np.uint8))
    with pytest.raises(ValueError, match='10x5'):
        semantic_scores(str(gt_dir), str(pred_dir), num_classes=3)


def test_object_scores_by_hand():
    gt = np.zeros((2, 50, 50), bool)
    gt[0, 10:30, 10:30] = True
    pred = gt.copy()
    pred[0, 10:30, 10:20] = False  # half of the square: IoU 0.5
    # object 2: both empty, counts 1 (nothing to find, nothing found)
    scores = object_scores([gt, gt[:0]], [pred, pred[:0]])
    assert scores['object_IoU'] == pytest.approx((0.5 + 1.0) / 2)
    assert 0 < scores['object_BIoU'] < 1
    assert object_scores([gt], [gt]) == pytest.approx(
        dict(object_IoU=1.0, object_BIoU=1.0)
    )
    with pytest.raises(ValueError, match='ground truth'):
        object_scores([gt], [pred[:1]])


def test_table_claims_only_what_every_seed_shows():
    def rec(seed, before, after):
        return dict(
            dataset='d',
            input='i',
            seed=seed,
            before=dict(segm_mAP=before, boundary_mAP=before),
            after=dict(segm_mAP=after, boundary_mAP=after),
        )

    rows = study_table(
        [rec(0, 0.2, 0.3), rec(1, 0.2, 0.25), rec(2, 0.2, 0.1)],
        'd',
        'i',
        INSTANCE_KEYS,
    )
    assert rows[2] == '| 0 | 20.0 | 30.0 | 20.0 | 30.0 |'
    assert rows[5] == '| median | 20.0 | 25.0 | 20.0 | 25.0 |'
    assert (
        'mask AP after refinement: higher on 2 of 3 seeds (-10.00 to +10.00 '
        'points; no claim)'
    ) in rows[-1]
    rows = study_table(
        [rec(0, 0.2, 0.3), rec(1, 0.2, 0.25)], 'd', 'i', INSTANCE_KEYS
    )
    assert 'higher on all 2 seeds (+5.00 to +10.00 points)' in rows[-1]
    assert study_table([rec(0, 0.2, 0.3)], 'other', 'i', INSTANCE_KEYS) == []


def test_picture_shows_where_refinement_fixed_most(tmp_path):
    objects = np.zeros((2, 100, 120), bool)
    objects[0, 10:20, 10:20] = True  # left alone by the refinement
    objects[1, 60:90, 70:110] = True
    before = objects.any(0)
    before[60:90, 70:80] = False  # wrong before, right after
    gain, crop = best_crop(objects, before, objects.any(0))
    # object 1's box (30x40 px) grown by 30% a side: a 64 px square
    # centred on it (43..107, 58..122), moved inside the image, where 300
    # pixels were fixed
    assert crop == (36, 56, 100, 120)
    assert gain == 300
    assert best_crop(objects[:0], before, before)[0] == -np.inf
    path = tmp_path / 'p.png'
    image = np.zeros((100, 120, 3), np.uint8)
    panel = dict(
        title='t', image=image, gt=objects.any(0), before=before,
        after=objects.any(0), crop=crop,
    )  # fmt: skip
    picture([panel, panel], str(path))
    assert cv2.imread(str(path)) is not None
