"""The DSB2018 image from the stardist wheel, converted to standard layouts."""

import json
import sys

import cv2
import numpy as np

from mmpointrend.dataset_makers.dsb2018 import convert_dsb2018


def test_conversion_splits_image_and_keeps_all_nuclei(tmp_path):
    counts = convert_dsb2018(str(tmp_path), split=384)
    assert 'stardist' not in sys.modules  # only its data files were read
    train = json.loads(
        (tmp_path / 'annotations' / 'instances_train.json').read_text()
    )
    val = json.loads(
        (tmp_path / 'annotations' / 'instances_val.json').read_text()
    )
    assert counts == {
        'train_instances': len(train['annotations']),
        'val_instances': len(val['annotations']),
    }
    # 125 nuclei; the ones cut by the split appear on both sides.
    assert 125 <= counts['train_instances'] + counts['val_instances'] < 140
    assert (
        train['images'][0]['width'] == 384 and val['images'][0]['width'] == 128
    )
    img = cv2.imread(str(tmp_path / 'img_dir' / 'train' / 'dsb2018_train.png'))
    label = cv2.imread(
        str(tmp_path / 'ann_dir' / 'val' / 'dsb2018_val.png'),
        cv2.IMREAD_UNCHANGED,
    )
    assert img.shape == (512, 384, 3) and img.max() > 200
    assert set(np.unique(label)) == {0, 1}
