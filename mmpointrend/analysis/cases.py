"""The cases the benchmarks and profiles measure, built in one place.

Semantic: the point head at Cityscapes size (1024x2048, K = 19, N = 8192,
2 steps). Instance: mmdet's and this project's PointRend RoI heads with the
same (converted) weights, and FPN features of an 800x1216 image with 100
random detections.
"""

from __future__ import annotations

import copy
import os.path as osp

#: The repository root (configs are given relative to it).
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

OURS = 'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
REF = 'mmdet::point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py'
IMG_H, IMG_W, NUM_DETS = 800, 1216, 100


def build_roi_head(spec: str, device: str):
    """An RoI head with its rcnn train/test configs, from a config file."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmpointrend.apis import resolve_config

    init_default_scope('mmdet')
    cfg = Config.fromfile(resolve_config(spec, ROOT))
    head = copy.deepcopy(cfg.model.roi_head)
    head.train_cfg = cfg.model.train_cfg.rcnn
    head.test_cfg = cfg.model.test_cfg.rcnn
    torch.manual_seed(0)
    module = MODELS.build(head)
    module.init_weights()
    return module.to(device).eval()


def paired_heads(device: str):
    """The RoI heads of mmdet and mmpointrend with the same weights."""
    from mmpointrend.checkpoint.foreign import convert_mmdet_pointrend

    ref = build_roi_head(REF, device)
    ours = build_roi_head(OURS, device)
    prefixed = {f'roi_head.{k}': v for k, v in ref.state_dict().items()}
    state = convert_mmdet_pointrend(prefixed)[0]
    ours.load_state_dict({k[9:]: v for k, v in state.items()})
    return ref, ours


def inputs(
    device: str,
    height: int = IMG_H,
    width: int = IMG_W,
    num_dets: int = NUM_DETS,
):
    """FPN features of an image (800x1216) and random detections (100)."""
    import torch
    from mmengine.structures import InstanceData

    gen = torch.Generator().manual_seed(0)
    feats = tuple(
        torch.randn(1, 256, height // s, width // s, generator=gen).to(device)
        for s in (4, 8, 16, 32, 64)
    )
    xy = torch.rand(num_dets, 2, generator=gen) * torch.tensor(
        [width * 0.8, height * 0.8]
    )
    wh = 16 + torch.rand(num_dets, 2, generator=gen) * min(300, height / 2)
    boxes = torch.cat(
        [xy, (xy + wh).clamp(max=torch.tensor([width, height]))], 1
    )
    res = InstanceData()
    res.bboxes = boxes.to(device)
    res.labels = torch.randint(0, 80, (num_dets,), generator=gen).to(device)
    res.scores = torch.rand(num_dets, generator=gen).to(device)
    meta = dict(
        img_shape=(height, width),
        ori_shape=(height, width),
        scale_factor=(1.0, 1.0),
    )
    return feats, res, meta


def semantic_render_case(seed: int = 0, div: int = 1):
    """The semantic point head at 1024x2048 (K = 19, N = 8192, 2 steps).

    ``div`` divides each side (4: a quick check that a script runs).

    Returns:
        tuple: ``(head, fine, coarse, test_cfg)``: a
        :class:`~mmpointrend.models.PointRendSemSegHead` in eval mode, its
        256-channel stride-4 P2 level, smooth coarse logits (as a trained
        coarse head gives) and the render settings.
    """
    import torch
    import torch.nn.functional as F

    from mmpointrend.models import PointRendSemSegHead

    torch.manual_seed(seed)
    head = PointRendSemSegHead(
        in_channels=[256], in_index=[0], channels=256, num_classes=19
    ).eval()
    coarse = F.interpolate(
        torch.randn(1, 19, 16, 32) * 4,
        size=(256 // div, 512 // div),
        mode='bilinear',
    )
    fine = [torch.randn(1, 256, 256 // div, 512 // div)]
    cfg = dict(subdivision_steps=2, subdivision_num_points=8192)
    return head, fine, coarse, cfg
