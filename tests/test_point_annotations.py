"""PointSup point annotations made from COCO masks (round trip)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_tool
from pycocotools import mask as mask_utils

from mmpointrend.dataset_makers import generate_synthetic_dataset
from mmpointrend.dataset_makers.point_annotations import (
    sample_point_annotations,
    summarize_point_annotations,
)


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    generate_synthetic_dataset(str(root), num_train=3, num_val=1, size=96)
    path = root / 'annotations' / 'instances_train.json'
    return path, json.loads(path.read_text())


def _masks(coco):
    images = {i['id']: i for i in coco['images']}
    out = {}
    for ann in coco['annotations']:
        img = images[ann['image_id']]
        seg = ann['segmentation']
        if isinstance(seg, list):
            seg = mask_utils.merge(
                mask_utils.frPyObjects(seg, img['height'], img['width'])
            )
        elif isinstance(seg['counts'], list):
            seg = mask_utils.frPyObjects(seg, img['height'], img['width'])
        out[ann['id']] = mask_utils.decode(seg)
    return out


def test_labels_are_the_mask_under_each_point(coco):
    _, data = coco
    points = sample_point_annotations(data, num_points=10, seed=3)
    masks = _masks(data)
    images = {i['id']: i for i in data['images']}
    assert len(points['annotations']) == len(data['annotations']) > 0
    positives = negatives = 0
    for ann in points['annotations']:
        assert 'segmentation' not in ann
        coords = np.array(ann['point_coords'])
        labels = np.array(ann['point_labels'])
        assert coords.shape == (10, 2) and labels.shape == (10,)
        img = images[ann['image_id']]
        x0, y0, w, h = ann['bbox']
        xs, ys = coords[:, 0], coords[:, 1]
        assert (xs >= np.floor(x0)).all() and (xs < np.ceil(x0 + w)).all()
        assert (ys >= np.floor(y0)).all() and (ys < np.ceil(y0 + h)).all()
        assert (xs < img['width']).all() and (ys < img['height']).all()
        assert (labels == masks[ann['id']][ys, xs]).all()
        positives += int(labels.sum())
        negatives += int((1 - labels).sum())
    # points in a box land on both sides of the object's outline
    assert positives > 0 and negatives > 0
    # the input is not modified
    assert all('segmentation' in a for a in data['annotations'])


def test_same_seed_same_points_other_seed_other_points(coco):
    _, data = coco
    a = sample_point_annotations(data, 5, seed=1)
    b = sample_point_annotations(data, 5, seed=1)
    c = sample_point_annotations(data, 5, seed=2)
    assert a == b and a != c


def test_bad_inputs_are_named():
    coco = dict(
        images=[dict(id=1, height=8, width=8)],
        annotations=[dict(id=1, image_id=1, bbox=[0, 0, 4, 4], iscrowd=0)],
    )
    with pytest.raises(ValueError, match='no segmentation'):
        sample_point_annotations(coco)
    coco['annotations'][0]['image_id'] = 2
    with pytest.raises(ValueError, match='not in "images"'):
        sample_point_annotations(coco)
    with pytest.raises(ValueError, match='num_points'):
        sample_point_annotations(coco, num_points=0)
    crowd = dict(
        coco,
        annotations=[
            dict(
                id=1,
                image_id=2,
                iscrowd=1,
                bbox=[0, 0, 1, 1],
                segmentation=[[0, 0, 1, 0, 1, 1]],
            )
        ],
    )
    out = sample_point_annotations(crowd)
    assert 'point_coords' not in out['annotations'][0]


def test_converter_cli_writes_and_refuses_to_overwrite(coco, tmp_path):
    src, data = coco
    dst = tmp_path / 'points.json'
    proc = run_tool(
        'tools/dataset_converters/coco_to_points.py', src, dst,
        '--num-points', '4', '--seed', '7',
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = json.loads(dst.read_text())
    assert written == sample_point_annotations(data, 4, seed=7)
    stats = summarize_point_annotations(written)
    assert f'{stats["positive"]:.1%} of the points are on their object' in (
        proc.stdout
    )
    before = dst.read_bytes()
    proc = run_tool('tools/dataset_converters/coco_to_points.py', src, dst)
    assert proc.returncode != 0 and '--force' in proc.stderr
    assert dst.read_bytes() == before


def test_summary_by_hand():
    coco = {
        'annotations': [
            # fills half its box; 3 of 4 labelled points on it
            dict(area=50.0, bbox=[0, 0, 10, 10], point_labels=[1, 1, 0, 1]),
            # none of its points on it; one point unlabelled (-1)
            dict(area=10.0, bbox=[0, 0, 10, 10], point_labels=[0, -1, 0, 0]),
            dict(area=5.0, bbox=[0, 0, 2, 5], iscrowd=1),  # no points
        ]
    }
    stats = summarize_point_annotations(coco)
    assert stats['objects'] == 2
    assert stats['positive'] == pytest.approx(3 / 7)
    assert stats['no_positive'] == 0.5
    assert stats['median_fill'] == pytest.approx(0.3)
    assert summarize_point_annotations({'annotations': []})['objects'] == 0


def _one_object(**changes):
    ann = dict(
        id=7,
        image_id=1,
        bbox=[1, 1, 4, 4],
        iscrowd=0,
        segmentation=[[1, 1, 5, 1, 5, 5, 1, 5]],
    )
    ann.update(changes)
    return dict(images=[dict(id=1, height=8, width=8)], annotations=[ann])


@pytest.mark.parametrize(
    'coco,match',
    [
        ({'annotations': []}, 'no "images"'),
        ({'images': []}, 'no "annotations"'),
        (_one_object(bbox=None), 'bbox must be'),
        (_one_object(segmentation='polygon'), 'list of polygons or an RLE'),
        (_one_object(segmentation=[[1, 1, 5, 1]]), 'at least 3'),
        (_one_object(bbox=[20, 20, 4, 4]), 'lies outside'),
        (_one_object(bbox=[float('nan'), 1, 4, 4]), 'finite numbers'),
        (_one_object(bbox=[1, 1, -4, 4]), 'width, height >= 0'),
        (
            _one_object(segmentation={'counts': [0, 16], 'size': [4, 4]}),
            r'RLE has size \[4, 4\] but the image is \[8, 8\]',
        ),
    ],
)
def test_malformed_coco_is_named(coco, match):
    with pytest.raises(ValueError, match=match):
        sample_point_annotations(coco)


def test_missing_bbox_and_image_size_are_named():
    coco = _one_object()
    del coco['annotations'][0]['bbox']
    with pytest.raises(ValueError, match='annotation 7 has no "bbox"'):
        sample_point_annotations(coco)
    coco = _one_object()
    del coco['images'][0]['height']
    with pytest.raises(ValueError, match='image 1 has no "height"'):
        sample_point_annotations(coco)


def test_converter_cli_refuses_bad_input_and_directory_dst(tmp_path):
    tool = 'tools/dataset_converters/coco_to_points.py'
    src = tmp_path / 'in.json'
    src.write_text(json.dumps(_one_object(segmentation='polygon')))
    proc = run_tool(tool, src, tmp_path / 'out.json')
    assert proc.returncode == 1 and str(src) in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'out.json').exists()
    src.write_text(json.dumps(_one_object()))
    proc = run_tool(tool, src, tmp_path)
    assert proc.returncode == 1 and 'is a directory' in proc.stderr
    proc = run_tool(tool, src, src, '--force')
    assert proc.returncode == 1 and 'is the input' in proc.stderr
    src.write_text('{broken')
    proc = run_tool(tool, src, tmp_path / 'out.json')
    assert proc.returncode == 1 and 'Expecting' in proc.stderr
