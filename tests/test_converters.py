"""Checkpoint converters on state dicts of the published shapes."""

import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from conftest import run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmpointrend.checkpoint.foreign import (
    convert_detectron2_pointrend,
    convert_mmdet_pointrend,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    ROOT, 'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
)


class _D2Weights(dict):
    """A detectron2 ``model`` dict filled with random arrays of given shapes."""

    def __init__(self, seed):
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def put(self, name, *shape):
        self[name] = self.rng.standard_normal(shape).astype(np.float32)

    def conv_norm(self, prefix, out_c, in_c, k, norm='frozen_bn'):
        self.put(f'{prefix}.weight', out_c, in_c, k, k)
        self.put(f'{prefix}.norm.weight', out_c)
        self.put(f'{prefix}.norm.bias', out_c)
        if norm == 'frozen_bn':
            self.put(f'{prefix}.norm.running_mean', out_c)
            self[f'{prefix}.norm.running_var'] = self.rng.uniform(
                0.5, 1.5, out_c
            ).astype(np.float32)

    def resnet_fpn(self, blocks_per_stage, groups=1, width_per_group=64):
        """detectron2's ResNet/ResNeXt (bottleneck, frozen BN) and FPN."""
        self.conv_norm('backbone.bottom_up.stem.conv1', 64, 3, 7)
        in_c = 64
        for stage, blocks in enumerate(blocks_per_stage, start=2):
            mid = groups * width_per_group * 2 ** (stage - 2)
            out_c = 256 * 2 ** (stage - 2)
            for b in range(blocks):
                p = f'backbone.bottom_up.res{stage}.{b}'
                if b == 0:
                    self.conv_norm(f'{p}.shortcut', out_c, in_c, 1)
                self.conv_norm(f'{p}.conv1', mid, in_c if b == 0 else out_c, 1)
                self.conv_norm(f'{p}.conv2', mid, mid // groups, 3)
                self.conv_norm(f'{p}.conv3', out_c, mid, 1)
            in_c = out_c
        for level, c in zip((2, 3, 4, 5), (256, 512, 1024, 2048)):
            self.put(f'backbone.fpn_lateral{level}.weight', 256, c, 1, 1)
            self.put(f'backbone.fpn_lateral{level}.bias', 256)
            self.put(f'backbone.fpn_output{level}.weight', 256, 256, 3, 3)
            self.put(f'backbone.fpn_output{level}.bias', 256)
        self['pixel_mean'] = np.array(
            [[[103.53]], [[116.28]], [[123.675]]], np.float32
        )
        self['pixel_std'] = np.ones((3, 1, 1), np.float32)


def detectron2_r50_fpn_pointrend(num_classes=80, seed=0, x101=False):
    """Names and shapes of detectron2's PointRend R50-FPN model-zoo pickle.

    With ``x101=True``: its X101-32x8d-FPN model (grouped 3x3 convs).
    """
    w = _D2Weights(seed)
    put = w.put
    if x101:
        w.resnet_fpn((3, 4, 23, 3), groups=32, width_per_group=8)
    else:
        w.resnet_fpn((3, 4, 6, 3))
    rpn = 'proposal_generator.rpn_head'
    put(f'{rpn}.conv.weight', 256, 256, 3, 3), put(f'{rpn}.conv.bias', 256)
    (
        put(f'{rpn}.objectness_logits.weight', 3, 256, 1, 1),
        put(f'{rpn}.objectness_logits.bias', 3),
    )
    (
        put(f'{rpn}.anchor_deltas.weight', 12, 256, 1, 1),
        put(f'{rpn}.anchor_deltas.bias', 12),
    )
    (
        put('roi_heads.box_head.fc1.weight', 1024, 256 * 49),
        put('roi_heads.box_head.fc1.bias', 1024),
    )
    (
        put('roi_heads.box_head.fc2.weight', 1024, 1024),
        put('roi_heads.box_head.fc2.bias', 1024),
    )
    put('roi_heads.box_predictor.cls_score.weight', num_classes + 1, 1024)
    put('roi_heads.box_predictor.cls_score.bias', num_classes + 1)
    put('roi_heads.box_predictor.bbox_pred.weight', num_classes * 4, 1024)
    put('roi_heads.box_predictor.bbox_pred.bias', num_classes * 4)
    coarse = 'roi_heads.mask_head.coarse_head'
    put(f'{coarse}.reduce_spatial_dim_conv.weight', 256, 256, 2, 2)
    put(f'{coarse}.reduce_spatial_dim_conv.bias', 256)
    (
        put(f'{coarse}.fc1.weight', 1024, 256 * 49),
        put(f'{coarse}.fc1.bias', 1024),
    )
    put(f'{coarse}.fc2.weight', 1024, 1024), put(f'{coarse}.fc2.bias', 1024)
    put(f'{coarse}.prediction.weight', num_classes * 49, 1024)
    put(f'{coarse}.prediction.bias', num_classes * 49)
    point = 'roi_heads.mask_head.point_head'
    for i in (1, 2, 3):
        put(f'{point}.fc{i}.weight', 256, 256 + num_classes, 1)
        put(f'{point}.fc{i}.bias', 256)
    put(f'{point}.predictor.weight', num_classes, 256 + num_classes, 1)
    put(f'{point}.predictor.bias', num_classes)
    return dict(w)


def detectron2_semantic_r101_fpn_pointrend(num_classes=19, seed=0):
    """Names and shapes of detectron2's SemanticFPN PointRend R101 pickle.

    ``model_final_cf6ac1.pkl``: SemSegFPNHead with 128-channel GN convs
    (P2: 1 conv; P3: 1; P4: 2; P5: 3, each followed by an upsample in the
    Sequential, so conv indices are 0, 2, 4) and a point head whose FCs see
    the coarse logits only at the input (COARSE_PRED_EACH_LAYER False).
    """
    w = _D2Weights(seed)
    w.resnet_fpn((3, 4, 23, 3))
    coarse = 'sem_seg_head.coarse_sem_seg_head'
    for level, num_convs in ((2, 1), (3, 1), (4, 2), (5, 3)):
        for i in range(num_convs):
            in_c = 256 if i == 0 else 128
            w.conv_norm(f'{coarse}.p{level}.{2 * i}', 128, in_c, 3, norm='gn')
    w.put(f'{coarse}.predictor.weight', num_classes, 128, 1, 1)
    w.put(f'{coarse}.predictor.bias', num_classes)
    point = 'sem_seg_head.point_head'
    w.put(f'{point}.fc1.weight', 256, 256 + num_classes, 1)
    for i in (1, 2, 3):
        if i > 1:
            w.put(f'{point}.fc{i}.weight', 256, 256, 1)
        w.put(f'{point}.fc{i}.bias', 256)
    w.put(f'{point}.predictor.weight', num_classes, 256, 1)
    w.put(f'{point}.predictor.bias', num_classes)
    return dict(w)


@pytest.fixture(scope='module')
def detector():
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


def test_detectron2_pickle_loads_strictly(detector, tmp_path):
    weights = detectron2_r50_fpn_pointrend()
    state, skipped = convert_detectron2_pointrend(weights)
    assert sorted(skipped) == ['pixel_mean', 'pixel_std']
    result = detector.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert all(k.endswith('num_batches_tracked') for k in result.missing_keys)
    sd = detector.state_dict()
    pairs = {
        'roi_head.point_head.mlp.predictor.weight': 'roi_heads.mask_head.point_head.predictor.weight',
        'backbone.layer3.5.bn2.running_var': 'backbone.bottom_up.res4.5.conv2.norm.running_var',
        'backbone.layer1.0.downsample.0.weight': 'backbone.bottom_up.res2.0.shortcut.weight',
        'neck.fpn_convs.3.conv.bias': 'backbone.fpn_output5.bias',
        'rpn_head.rpn_reg.weight': 'proposal_generator.rpn_head.anchor_deltas.weight',
        'roi_head.mask_head.fc_logits.weight': 'roi_heads.mask_head.coarse_head.prediction.weight',
    }
    for ours, theirs in pairs.items():
        assert torch.equal(sd[ours], torch.from_numpy(weights[theirs])), ours

    # The CLI reads a real pickle and writes a loadable checkpoint.
    src, dst = tmp_path / 'model_final.pkl', tmp_path / 'out.pth'
    with open(src, 'wb') as f:
        pickle.dump({'model': weights, '__author__': 'test'}, f)
    proc = run_tool(
        'tools/model_converters/detectron2_to_mmpointrend.py', src, dst
    )
    assert proc.returncode == 0, proc.stderr
    assert torch.load(dst)['state_dict'].keys() == state.keys()


def test_detectron2_x101_pickle_loads_strictly():
    """detectron2's X101-32x8d model fills mmdet's ResNeXt-101 32x8d."""
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    cfg = Config.fromfile(
        osp.join(
            ROOT,
            'configs/mask_rcnn/pointrend_mask-rcnn_x101-32x8d_fpn_ms-3x_coco.py',
        )
    )
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    weights = detectron2_r50_fpn_pointrend(x101=True)
    state, _ = convert_detectron2_pointrend(weights)
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert all(k.endswith('num_batches_tracked') for k in result.missing_keys)
    assert torch.equal(
        model.state_dict()['backbone.layer3.22.conv2.weight'],
        torch.from_numpy(weights['backbone.bottom_up.res4.22.conv2.weight']),
    )


def test_detectron2_unknown_weight_is_an_error():
    with pytest.raises(KeyError, match='roi_heads.keypoint_head'):
        convert_detectron2_pointrend(
            {'roi_heads.keypoint_head.fc.weight': np.zeros(1)}
        )


def test_mmdet_checkpoint_of_published_shapes(detector, tmp_path):
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    ref_cfg = Config.fromfile(
        osp.join(
            osp.dirname(__import__('mmdet').__file__),
            '.mim/configs/point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py',
        )
    )
    ref_cfg.model.backbone.init_cfg = None
    ref = MODELS.build(ref_cfg.model)
    state, renamed = convert_mmdet_pointrend(ref.state_dict())
    assert len(renamed) == 10
    result = detector.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    with pytest.raises(ValueError, match='not an mmdet PointRend'):
        convert_mmdet_pointrend({'backbone.conv1.weight': torch.zeros(1)})

    src, dst = tmp_path / 'mmdet.pth', tmp_path / 'ours.pth'
    torch.save({'state_dict': ref.state_dict(), 'meta': {}}, src)
    proc = run_tool('tools/model_converters/mmdet2mmpointrend.py', src, dst)
    assert proc.returncode == 0, proc.stderr
    assert (
        'roi_head.point_head.mlp.predictor.weight'
        in torch.load(dst)['state_dict']
    )


def test_foreign_checkpoints_convert_on_load(detector, tmp_path):
    """Published detectron2 pickles (current and pre-Nov-2020) load as is."""
    import re

    from mmpointrend.checkpoint.schemes import load_from_safe_local

    weights = detectron2_r50_fpn_pointrend()
    expected, _ = convert_detectron2_pointrend(weights)
    old = {}
    for name, value in weights.items():
        name = name.replace(
            'roi_heads.mask_head.coarse_head.', 'roi_heads.mask_coarse_head.'
        ).replace(
            'roi_heads.mask_head.point_head.', 'roi_heads.mask_point_head.'
        )
        if name.startswith('roi_heads.mask_coarse_head.'):
            name = re.sub(r'\.fc(\d)\.', r'.coarse_mask_fc\1.', name)
        old[name] = value
    assert old.keys() != weights.keys()
    for layout, data in (('new', weights), ('old', old)):
        path = tmp_path / f'model_final_{layout}.pkl'
        with open(path, 'wb') as f:
            pickle.dump({'model': data, '__author__': 'x'}, f)
        loaded = load_from_safe_local(str(path))
        assert loaded['meta']['converted_from'].startswith('detectron2:')
        assert loaded['state_dict'].keys() == expected.keys()
        for key in expected:
            assert torch.equal(loaded['state_dict'][key], expected[key])
    bad = dict(weights, **{'roi_heads.keypoint_head.fc.weight': np.zeros(1)})
    with open(tmp_path / 'bad.pkl', 'wb') as f:
        pickle.dump({'model': bad}, f)
    with pytest.raises(KeyError, match='roi_heads.keypoint_head'):
        load_from_safe_local(str(tmp_path / 'bad.pkl'))


D2_SEMANTIC_CONFIG = osp.join(
    ROOT,
    'configs/sem_fpn/'
    'pointrend_fpn_r101-caffe_gn-head_8xb4-65k_cityscapes-512x1024.py',
)


def test_detectron2_semantic_pickle_loads_strictly(tmp_path):
    """detectron2's SemanticFPN model loads into its config with every weight.

    Every tensor of our model is covered (strict load, no missing key) and
    sits where detectron2 had it; the pickle converts on load like the
    instance models.
    """
    from mmseg.registry import MODELS

    from mmpointrend.checkpoint.schemes import load_from_safe_local

    init_default_scope('mmseg')
    cfg = Config.fromfile(D2_SEMANTIC_CONFIG)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    weights = detectron2_semantic_r101_fpn_pointrend()
    path = tmp_path / 'model_final_cf6ac1.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'model': weights, '__author__': 'x'}, f)
    state = load_from_safe_local(str(path))['state_dict']
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    assert all(k.endswith('num_batches_tracked') for k in result.missing_keys)
    sd = model.state_dict()
    pairs = {
        'backbone.conv1.weight': 'backbone.bottom_up.stem.conv1.weight',
        'backbone.layer3.22.bn3.running_var': (
            'backbone.bottom_up.res4.22.conv3.norm.running_var'
        ),
        'neck.lateral_convs.3.conv.weight': 'backbone.fpn_lateral5.weight',
        'decode_head.0.scale_heads.3.4.conv.weight': (
            'sem_seg_head.coarse_sem_seg_head.p5.4.weight'
        ),
        'decode_head.0.scale_heads.2.2.gn.bias': (
            'sem_seg_head.coarse_sem_seg_head.p4.2.norm.bias'
        ),
        'decode_head.0.conv_seg.weight': (
            'sem_seg_head.coarse_sem_seg_head.predictor.weight'
        ),
        'decode_head.1.mlp.fcs.0.weight': 'sem_seg_head.point_head.fc1.weight',
        'decode_head.1.mlp.predictor.bias': (
            'sem_seg_head.point_head.predictor.bias'
        ),
    }
    for ours, theirs in pairs.items():
        assert torch.equal(sd[ours], torch.from_numpy(weights[theirs])), ours
    # caffe style: the stride of a down-sampling block is in its 1x1 conv
    assert model.backbone.layer2[0].conv1.stride == (2, 2)
    assert model.backbone.layer2[0].conv2.stride == (1, 1)
    with pytest.raises(KeyError, match='sem_seg_head.res5_head'):
        convert_detectron2_pointrend(
            dict(weights, **{'sem_seg_head.res5_head.weight': np.zeros(1)})
        )
