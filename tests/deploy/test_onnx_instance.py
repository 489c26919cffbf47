"""ONNX export of Mask R-CNN + PointRend, run in onnxruntime.

Oracle: mmdet's own ``predict`` of the same model (same weights, same
image): the exported graph must give the same detections, and its 224x224
mask probabilities, pasted with the library's paste, the same masks (IoU
>= 0.99 per detection). Zero detections give empty outputs.
"""

from __future__ import annotations

import os.path as osp
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmpointrend.apis import build_model
from mmpointrend.deploy import export_detector
from mmpointrend.models.roi_heads.mask_heads.coarse_mask_head import (
    paste_masks_into_image,
)
from mmpointrend.testing import random_bn_statistics

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC = osp.join(
    ROOT,
    'configs/synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
)
COCO = osp.join(
    ROOT, 'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
)
pytestmark = pytest.mark.slow


def _model(config, seed=0, **rcnn):
    torch.manual_seed(seed)
    model = random_bn_statistics(build_model(config)[0].eval(), seed)
    model.test_cfg.rcnn.update(rcnn)
    return model


def _mmdet_predict(model, image):
    h, w = image.shape[-2:]
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(h, w),
            ori_shape=(h, w),
            pad_shape=(h, w),
            batch_input_shape=(h, w),
            scale_factor=(1.0, 1.0),
        )
    )
    with torch.no_grad():
        return model.predict(image, [sample], rescale=False)[0].pred_instances


def _check(model, path, image):
    ref = _mmdet_predict(model, image)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    boxes, scores, labels, masks = session.run(None, {'image': image.numpy()})
    assert boxes.shape == tuple(ref.bboxes.shape), (boxes.shape, len(ref))
    assert np.array_equal(labels, ref.labels.numpy())
    assert np.abs(boxes - ref.bboxes.numpy()).max(initial=0) <= 1e-3
    assert np.abs(scores - ref.scores.numpy()).max(initial=0) <= 1e-4
    assert masks.shape[1:] == (224, 224)
    # paste the exported probabilities as predict does, compare the masks
    pasted = InstanceData(bboxes=torch.from_numpy(boxes))
    h, w = image.shape[-2:]
    meta = dict(ori_shape=(h, w), scale_factor=(1.0, 1.0))
    paste_masks_into_image(
        torch.from_numpy(masks)[:, None], pasted, meta, 0.5, rescale=False
    )
    for ours, theirs in zip(pasted.masks, ref.masks):
        union = (ours | theirs).sum().item()
        if union:
            assert (ours & theirs).sum().item() / union >= 0.99
    return len(boxes)


def test_synthetic_model_matches_mmdet(tmp_path):
    model = _model(SYNTHETIC)
    path = export_detector(model, str(tmp_path / 'm.onnx'), (320, 320))
    found = [_check(model, path, torch.randn(1, 3, 320, 320)) for _ in (0, 1)]
    assert min(found) > 0  # detections to compare


def test_zero_detections_give_empty_outputs(tmp_path):
    # no class of a random model reaches this score
    model = _model(SYNTHETIC, score_thr=0.999)
    path = export_detector(model, str(tmp_path / 'm.onnx'), (320, 320))
    assert _check(model, path, torch.randn(1, 3, 320, 320)) == 0


def test_coco_r50_config_matches_mmdet(tmp_path):
    # random 81-way heads score every class about 1/81 < 0.05: keep all
    model = _model(COCO, score_thr=0.0)
    path = export_detector(model, str(tmp_path / 'm.onnx'), (320, 480))
    assert _check(model, path, torch.randn(1, 3, 320, 480)) > 0


def test_command_line_exports_instance_models(tmp_path):
    out = tmp_path / 'ins.onnx'
    proc = subprocess.run(
        [
            sys.executable, 'tools/deployment/export_onnx.py', SYNTHETIC,
            '--out', str(out), '--shape', '256', '256', '--verify',
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'same labels: True' in proc.stdout, proc.stdout
