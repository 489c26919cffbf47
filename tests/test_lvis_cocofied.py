"""COCO-fied LVIS (the paper's AP*): conversion and evaluation end to end."""

import json
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import run_tool
from mmdet.datasets import CocoDataset
from mmengine.config import Config

from mmpointrend.dataset_makers.lvis_cocofied import (
    COCO_ID_TO_SYNSET,
    cocofy_lvis,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    ROOT,
    'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco_eval-lvis-cocofied.py',
)


def fake_lvis():
    cats = [
        dict(id=7, name='aardvark', synset='aardvark.n.01', frequency='r'),
        dict(id=805, name='baby', synset='person.n.01', frequency='f'),
        dict(id=300, name='beef_(food)', synset='beef.n.01', frequency='c'),
    ]
    images = [
        dict(
            id=i,
            height=40,
            width=40,
            coco_url=f'http://images.cocodataset.org/val2017/{i:012d}.jpg',
            file_name=f'COCO_val2014_{i:012d}.jpg',
            not_exhaustive_category_ids=[7, 300],
            neg_category_ids=[805] if i == 2 else [],
        )
        for i in (1, 2)
    ]

    def ann(aid, img, cat, x):
        poly = [x, 5.0, x + 10, 5.0, x + 10, 20.0, x, 20.0]
        return dict(
            id=aid,
            image_id=img,
            category_id=cat,
            segmentation=[poly],
            area=150.0,
            bbox=[x, 5.0, 10.0, 15.0],
        )

    anns = [
        ann(1, 1, 805, 2.0),
        ann(2, 1, 7, 15.0),
        ann(3, 1, 300, 25.0),
        ann(4, 2, 300, 5.0),
    ]
    return dict(images=images, annotations=anns, categories=cats)


def test_cocofy_maps_synsets_to_coco_ids_and_keeps_all_categories():
    out = cocofy_lvis(fake_lvis(), CocoDataset.METAINFO['classes'])
    assert [c['id'] for c in out['categories']] == sorted(COCO_ID_TO_SYNSET)
    assert out['categories'][0]['name'] == 'person'
    assert (
        out['categories'][20 - 1]['name'] == 'cow'
    )  # beef.n.01 is COCO id 21
    assert [(a['category_id'], a['image_id']) for a in out['annotations']] == [
        (1, 1),
        (21, 1),
        (21, 2),
    ]
    assert [a['id'] for a in out['annotations']] == [1, 2, 3]
    assert out['images'][0]['file_name'] == 'val2017/000000000001.jpg'
    assert out['images'][0]['not_exhaustive_category_ids'] == [21]
    assert out['images'][1]['neg_category_ids'] == [1]
    freq = {c['id']: c['frequency'] for c in out['categories']}
    assert (freq[1], freq[21]) == ('f', 'c')
    with pytest.raises(ValueError, match='synset'):
        cocofy_lvis(
            dict(images=[], annotations=[], categories=[dict(id=1, name='x')]),
            CocoDataset.METAINFO['classes'],
        )


def _polygon_mask(x):
    mask = np.zeros((40, 40), bool)
    mask[5:20, int(x) : int(x) + 10] = True
    return mask


def test_eval_config_scores_perfect_predictions_with_lvis_metric(tmp_path):
    import lvis  # noqa: F401  (requirements/tests.txt; a missing install fails)
    import numpy
    from mmdet.registry import METRICS
    from mmengine.registry import init_default_scope

    src, dst = tmp_path / 'lvis_val.json', tmp_path / 'cocofied.json'
    src.write_text(json.dumps(fake_lvis()))
    tool = 'tools/dataset_converters/lvis_cocofied.py'
    proc = run_tool(tool, src, dst)
    assert proc.returncode == 0, proc.stderr
    proc = run_tool(tool, src, dst)
    assert proc.returncode != 0 and '--force' in proc.stderr

    cfg = Config.fromfile(CONFIG)
    assert cfg.test_evaluator.type == 'mmpointrend.LVISCompatMetric'
    assert (
        cfg.test_dataloader.dataset.ann_file
        == 'lvis/lvis_v0.5_val_cocofied.json'
    )
    init_default_scope('mmdet')
    metric = METRICS.build(dict(cfg.test_evaluator, ann_file=str(dst)))
    metric.dataset_meta = dict(classes=CocoDataset.METAINFO['classes'])
    # Perfect predictions: person at x=2 on image 1, cow at 25 (1) and 5 (2).
    preds = {1: [(0, 2.0), (19, 25.0)], 2: [(19, 5.0)]}
    samples = []
    for img_id, items in preds.items():
        pred = dict(
            labels=torch.tensor([label for label, _ in items]),
            scores=torch.ones(len(items)),
            bboxes=torch.tensor([[x, 5.0, x + 10, 20.0] for _, x in items]),
            masks=torch.from_numpy(
                np.stack([_polygon_mask(x) for _, x in items])
            ),
        )
        samples.append(
            dict(img_id=img_id, ori_shape=(40, 40), pred_instances=pred)
        )
    metric.process({}, samples)
    results = metric.evaluate(size=len(samples))
    assert results['lvis/segm_AP'] == pytest.approx(1.0)
    assert not hasattr(numpy, 'float')  # the alias did not leak


def _imperfect_case():
    """fake_lvis, image 2 exhaustive, a third image, and predictions with every kind of miss.

    Rectangles 15 px high and 10 wide at the given x: two of them overlap
    either fully or not at all, so AP is the same at every IoU threshold
    and can be computed by hand (LVIS: 101 recall points, precision made
    monotone, then the mean over categories with ground truth).
    """
    lvis = fake_lvis()
    lvis['images'][1]['not_exhaustive_category_ids'] = []  # cow exhaustive
    lvis['images'].append(
        dict(
            lvis['images'][0],
            id=3,
            coco_url='http://images.cocodataset.org/val2017/000000000003.jpg',
            not_exhaustive_category_ids=[],
            neg_category_ids=[],
        )
    )
    lvis['annotations'].append(
        dict(lvis['annotations'][0], id=5, image_id=3)  # a person at x=2
    )
    person, cow = 0, 19  # COCO labels (ids 1 and 21)
    preds = {  # image: (label, x, score)
        1: [
            (person, 2.0, 0.9),  # TP
            (cow, 25.0, 0.8),  # TP
            (cow, 12.0, 0.95),  # no match, but cow is not exhaustive: ignored
        ],
        2: [
            (cow, 5.0, 0.6),  # TP
            (cow, 25.0, 0.7),  # FP (cow is exhaustive here)
            (person, 20.0, 0.95),  # FP: person is a negative category here
        ],
        3: [
            (person, 2.0, 0.5),  # TP
            (cow, 25.0, 0.99),  # cow neither present nor negative: ignored
        ],
    }
    # person: 0.95 FP, 0.9 TP, 0.5 TP -> precision 0, 1/2, 2/3 at recall
    #   0, 1/2, 1; made monotone: 2/3 at every recall point -> AP 2/3.
    # cow: 0.8 TP, 0.7 FP, 0.6 TP -> (R, P) = (1/2, 1), (1/2, 1/2),
    #   (1, 2/3); recall points 0..0.50 (51) at 1, 0.51..1 (50) at 2/3.
    ap_person = 2 / 3
    ap_cow = (51 * 1.0 + 50 * (2 / 3)) / 101
    return lvis, preds, ap_person, ap_cow


def test_lvis_ap_star_of_imperfect_predictions_is_the_hand_computed_one(
    tmp_path,
):
    from mmdet.registry import METRICS
    from mmengine.registry import init_default_scope

    lvis, preds, ap_person, ap_cow = _imperfect_case()
    src, dst = tmp_path / 'lvis_val.json', tmp_path / 'cocofied.json'
    src.write_text(json.dumps(lvis))
    proc = run_tool('tools/dataset_converters/lvis_cocofied.py', src, dst)
    assert proc.returncode == 0, proc.stderr
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmdet')
    metric = METRICS.build(dict(cfg.test_evaluator, ann_file=str(dst)))
    metric.dataset_meta = dict(classes=CocoDataset.METAINFO['classes'])
    samples = []
    for img_id, items in preds.items():
        pred = dict(
            labels=torch.tensor([label for label, _, _ in items]),
            scores=torch.tensor([score for _, _, score in items]),
            bboxes=torch.tensor([[x, 5.0, x + 10, 20.0] for _, x, _ in items]),
            masks=torch.from_numpy(
                np.stack([_polygon_mask(x) for _, x, _ in items])
            ),
        )
        samples.append(
            dict(img_id=img_id, ori_shape=(40, 40), pred_instances=pred)
        )
    metric.process({}, samples)
    # the metric reports 3 decimals: 6e-4 covers the rounding only
    results = metric.evaluate(size=len(samples))
    expected = (ap_person + ap_cow) / 2  # 0.7508...
    assert results['lvis/segm_AP'] == pytest.approx(expected, abs=6e-4)
    # person is frequent, cow (from beef.n.01) common: the split says which
    assert results['lvis/segm_APf'] == pytest.approx(ap_person, abs=6e-4)
    assert results['lvis/segm_APc'] == pytest.approx(ap_cow, abs=6e-4)
