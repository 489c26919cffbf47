"""Checkpoint converters, tensor for tensor, for every published model.

The oracles are written on the test side, never imported from the converter:
the key maps in ``conftest`` (from detectron2's, mmseg's and mmdet's module
names), detectron2's published names and shapes described from its side
(:class:`_D2Weights`), and mmseg's and mmdet's own PointRend models built
from their own configs. Every source tensor holds its own random values, so
a swap of two same-shaped tensors (point-head ``fc1``-``fc3``,
``fpn_output2``-``4``), a transpose or a drop fails the element-wise
comparison, which covers every tensor of the model.
"""

import glob
import os.path as osp
import pickle
import re

import numpy as np
import pytest
import torch
import yaml
from conftest import (
    D2_CAFFE_PIXEL,
    foreign_name,
    run_tool,
    to_detectron2_layout,
)

from mmpointrend.apis import build_model
from mmpointrend.checkpoint.foreign import (
    convert_detectron2_pointrend,
    convert_foreign_checkpoint,
    convert_mmdet_pointrend,
    normalisation_mismatch,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(
    ROOT, 'configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
)
#: detectron2's X101-32x8d ImageNet weights (FAIR) take BGR input with this
#: mean and std; its MSRA ResNets the caffe default.
D2_X101_PIXEL = ((103.53, 116.28, 123.675), (57.375, 57.12, 58.395))


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

    def resnet_fpn(
        self, blocks_per_stage, groups=1, width_per_group=64, pixel=None
    ):
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
        mean, std = pixel or D2_CAFFE_PIXEL
        self['pixel_mean'] = np.array(mean, np.float32).reshape(3, 1, 1)
        self['pixel_std'] = np.array(std, np.float32).reshape(3, 1, 1)


def detectron2_rcnn_pointrend(num_classes=80, seed=0, depth=50, x101=False):
    """Names and shapes of detectron2's PointRend R-CNN model-zoo pickles.

    ``depth`` 50 or 101 (MSRA ResNet); ``x101=True``: its X101-32x8d-FPN
    model (grouped 3x3 convs, FAIR's normalisation).
    """
    w = _D2Weights(seed)
    put = w.put
    blocks = (3, 4, 6, 3) if depth == 50 and not x101 else (3, 4, 23, 3)
    if x101:
        w.resnet_fpn(blocks, groups=32, width_per_group=8, pixel=D2_X101_PIXEL)
    else:
        w.resnet_fpn(blocks)
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


def _zoo_entries():
    entries = {}
    for path in sorted(glob.glob(osp.join(ROOT, 'configs/*/metafile.yaml'))):
        with open(path) as f:
            for model in yaml.safe_load(f)['Models']:
                entries[model['Name']] = (
                    osp.join(ROOT, model['Config']),
                    model['Metadata']['Weight Format'],
                )
    return entries


ZOO = _zoo_entries()

#: Each mmseg/mmdet zoo model's own config in its publisher's package.
PUBLISHER_CONFIG = {
    'pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024': (
        'mmseg::point_rend/pointrend_r50_4xb2-80k_cityscapes-512x1024.py'
    ),
    'pointrend_fpn_r101_4xb2-80k_cityscapes-512x1024': (
        'mmseg::point_rend/pointrend_r101_4xb2-80k_cityscapes-512x1024.py'
    ),
    'pointrend_fpn_r50_4xb4-160k_ade20k-512x512': (
        'mmseg::point_rend/pointrend_r50_4xb4-160k_ade20k-512x512.py'
    ),
    'pointrend_fpn_r101_4xb4-160k_ade20k-512x512': (
        'mmseg::point_rend/pointrend_r101_4xb4-160k_ade20k-512x512.py'
    ),
    'pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco': (
        'mmdet::point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py'
    ),
    'pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco': (
        'mmdet::point_rend/point-rend_r50-caffe_fpn_ms-3x_coco.py'
    ),
}

#: Each detectron2 zoo model: its pickle as detectron2 lays it out, and the
#: input normalisation of its config (all BGR).
D2_PUBLISHED = {
    'pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco_detectron2': (
        lambda: detectron2_rcnn_pointrend(),
        D2_CAFFE_PIXEL,
    ),
    'pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco_detectron2': (
        lambda: detectron2_rcnn_pointrend(),
        D2_CAFFE_PIXEL,
    ),
    'pointrend_mask-rcnn_r101-caffe_fpn_ms-3x_coco': (
        lambda: detectron2_rcnn_pointrend(depth=101),
        D2_CAFFE_PIXEL,
    ),
    'pointrend_mask-rcnn_x101-32x8d_fpn_ms-3x_coco': (
        lambda: detectron2_rcnn_pointrend(x101=True),
        D2_X101_PIXEL,
    ),
    'pointrend_mask-rcnn_r50-caffe_fpn_1x_cityscapes': (
        lambda: detectron2_rcnn_pointrend(num_classes=8),
        D2_CAFFE_PIXEL,
    ),
    'pointrend_fpn_r101-caffe_gn-head_8xb4-65k_cityscapes-512x1024': (
        lambda: detectron2_semantic_r101_fpn_pointrend(),
        D2_CAFFE_PIXEL,
    ),
}


def _randomised(model, seed):
    """The model's state dict with every tensor drawn afresh (distinct)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith('num_batches_tracked'):
            state[key] = value
            continue
        drawn = torch.randn(value.shape, generator=gen)
        state[key] = drawn.abs() + 0.5 if 'running_var' in key else drawn
    return state


def _shapes(weights):
    return {k: tuple(np.shape(v)) for k, v in weights.items()}


def test_every_zoo_model_is_covered():
    """A new zoo entry fails here until the test below covers it."""
    assert sorted(ZOO) == sorted([*PUBLISHER_CONFIG, *D2_PUBLISHED])
    for name in PUBLISHER_CONFIG:
        assert ZOO[name][1] in ('mmseg', 'mmdet'), name
    for name in D2_PUBLISHED:
        assert ZOO[name][1] == 'detectron2', name


@pytest.mark.parametrize(
    'name,old_layout',
    [(name, False) for name in sorted(ZOO)]
    + [('pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco_detectron2', True)],
)
def test_published_model_converts_tensor_for_tensor(name, old_layout):
    """Every tensor lands where the test's own key map says, unchanged.

    mmseg/mmdet: weights of the publisher's own model (built from its own
    config). detectron2: the test's map gives exactly the pickle's published
    names and shapes; its ``pixel_mean``/``pixel_std`` (BGR) must equal the
    config's data preprocessor, whose images are read as BGR.
    """
    config, layout = ZOO[name]
    ours, cfg = build_model(config)
    if layout == 'detectron2':
        published, pixel = D2_PUBLISHED[name]
        state = _randomised(ours, seed=len(name))
        expected = {
            k: v for k, v in state.items() if 'num_batches_tracked' not in k
        }
        weights = to_detectron2_layout(state, old_layout, pixel)
        if not old_layout:
            assert _shapes(weights) == _shapes(published())
        checkpoint = {'model': weights, '__author__': 'test'}
    else:
        reference, _ = build_model(PUBLISHER_CONFIG[name])
        theirs = _randomised(reference, seed=len(name))
        expected = {
            k: theirs[foreign_name(k, layout)] for k in ours.state_dict()
        }
        checkpoint = {'state_dict': theirs, 'meta': {}}
        assert len(theirs) == len(expected)  # nothing of theirs is left
    loaded = convert_foreign_checkpoint(checkpoint, name)
    assert loaded['meta']['converted_from'] == f'{layout}:{name}'
    converted = loaded['state_dict']
    assert sorted(converted) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(converted[key], torch.as_tensor(value)), key
    result = ours.load_state_dict(converted, strict=False)
    assert not result.unexpected_keys
    assert all('num_batches_tracked' in k for k in result.missing_keys)
    if layout == 'detectron2':
        mean, std = pixel
        preprocessor = ours.data_preprocessor
        assert preprocessor.mean.flatten().tolist() == pytest.approx(mean)
        assert preprocessor.std.flatten().tolist() == pytest.approx(std)
        # images are read as BGR; detectron2's models take BGR
        assert not cfg.model.data_preprocessor.get('bgr_to_rgb', False)
        assert not cfg.model.data_preprocessor.get('rgb_to_bgr', False)
        assert loaded['meta']['pixel_mean'] == pytest.approx(mean)
        assert loaded['meta']['pixel_std'] == pytest.approx(std)
        assert normalisation_mismatch(loaded['meta'], ours) is None


def test_normalisation_mismatch_warns_on_load(tmp_path):
    """detectron2 weights under another normalisation are named on load."""
    from conftest import INS_CONFIG

    from mmpointrend.checkpoint.fit import load_checked_checkpoint

    model, cfg = build_model(INS_CONFIG)
    preprocessor = model.data_preprocessor
    own = (
        tuple(preprocessor.mean.flatten().tolist()),
        tuple(preprocessor.std.flatten().tolist()),
    )
    # the synthetic configs feed RGB (ImageNet weights)
    assert cfg.model.data_preprocessor.bgr_to_rgb
    path = tmp_path / 'model_final.pkl'
    with open(path, 'wb') as f:
        weights = to_detectron2_layout(model.state_dict(), pixel=own)
        pickle.dump({'model': weights}, f)
    with pytest.warns(UserWarning, match='trained on BGR input') as record:
        load_checked_checkpoint(model, str(path))
    assert str(path) in str(record[0].message)
    # the same numbers in the order the network sees them: still BGR vs RGB
    meta = {'pixel_mean': list(own[0]), 'pixel_std': list(own[1])}
    assert 'feeds RGB input' in normalisation_mismatch(meta, model)
    assert (
        normalisation_mismatch(dict(meta, input_format='RGB'), model) is None
    )
    assert normalisation_mismatch({}, model) is None


@pytest.fixture(scope='module')
def detector():
    return build_model(CONFIG)[0]


def test_detectron2_cli_writes_the_converted_file(tmp_path):
    weights = detectron2_rcnn_pointrend()
    state, skipped = convert_detectron2_pointrend(weights)
    assert sorted(skipped) == ['pixel_mean', 'pixel_std']
    src, dst = tmp_path / 'model_final.pkl', tmp_path / 'out.pth'
    with open(src, 'wb') as f:
        pickle.dump({'model': weights, '__author__': 'test'}, f)
    proc = run_tool(
        'tools/model_converters/detectron2_to_mmpointrend.py', src, dst
    )
    assert proc.returncode == 0, proc.stderr
    written = torch.load(dst)['state_dict']
    assert written.keys() == state.keys()
    for key in state:
        assert torch.equal(written[key], state[key]), key


def test_detectron2_unknown_weight_is_an_error():
    with pytest.raises(KeyError, match='roi_heads.keypoint_head'):
        convert_detectron2_pointrend(
            {'roi_heads.keypoint_head.fc.weight': np.zeros(1)}
        )


def test_mmdet_cli_and_refusal(tmp_path):
    reference, _ = build_model(
        PUBLISHER_CONFIG['pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco']
    )
    state, renamed = convert_mmdet_pointrend(reference.state_dict())
    assert len(renamed) == 10
    with pytest.raises(ValueError, match='not an mmdet PointRend'):
        convert_mmdet_pointrend({'backbone.conv1.weight': torch.zeros(1)})
    src, dst = tmp_path / 'mmdet.pth', tmp_path / 'ours.pth'
    torch.save({'state_dict': reference.state_dict(), 'meta': {}}, src)
    proc = run_tool('tools/model_converters/mmdet2mmpointrend.py', src, dst)
    assert proc.returncode == 0, proc.stderr
    written = torch.load(dst)['state_dict']
    assert written.keys() == state.keys()


def test_foreign_checkpoints_convert_on_load(tmp_path):
    """Published detectron2 pickles (current and pre-Nov-2020) load as is."""
    from mmpointrend.checkpoint.schemes import load_from_safe_local

    weights = detectron2_rcnn_pointrend()
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


def test_detectron2_semantic_backbone_is_caffe_style():
    """detectron2's semantic R101 puts a block's stride in its 1x1 conv."""
    model, _ = build_model(
        ZOO['pointrend_fpn_r101-caffe_gn-head_8xb4-65k_cityscapes-512x1024'][0]
    )
    assert model.backbone.layer2[0].conv1.stride == (2, 2)
    assert model.backbone.layer2[0].conv2.stride == (1, 1)
    weights = detectron2_semantic_r101_fpn_pointrend()
    with pytest.raises(KeyError, match='sem_seg_head.res5_head'):
        convert_detectron2_pointrend(
            dict(weights, **{'sem_seg_head.res5_head.weight': np.zeros(1)})
        )
