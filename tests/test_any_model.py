"""Layer 3: PointRend on other mmseg/mmdet models (``pointrendify``).

Each family is built from mmseg's/mmdet's own config with a tiny, randomly
initialised backbone, made into PointRend by :func:`pointrendify`, trained
one optimiser step and run on synthetic images: the render must end at the
input resolution, images without objects (every pixel ignored, no
instances) must train, and zero detections must predict. The shipped
``configs/any_model/`` files must equal the tool's output.
"""

from __future__ import annotations

import glob
import os.path as osp
import re

import pytest
import torch
from conftest import run_tool
from mmengine.config import Config

from mmpointrend.any_model import PointRendifyError, pointrendify
from mmpointrend.apis import build_model
from mmpointrend.apis.inference import resolve_config
from mmpointrend.testing import demo_seg_batch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Every config the tool wrote (configs/any_model and the study's pairs).
SHIPPED = sorted(
    p
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if 'written by\n# tools/misc/pointrendify.py' in open(p).read()
)

#: HRNet with one block per branch and one module per stage.
_HRNET_TINY = {
    'model.backbone.extra.stage1.num_blocks': (1,),
    'model.backbone.extra.stage2.num_blocks': (1, 1),
    'model.backbone.extra.stage3.num_modules': 1,
    'model.backbone.extra.stage3.num_blocks': (1, 1, 1),
    'model.backbone.extra.stage4.num_modules': 1,
    'model.backbone.extra.stage4.num_blocks': (1, 1, 1, 1),
}
_SWIN_TINY = {
    'model.backbone.embed_dims': 16,
    'model.backbone.depths': [1, 1, 1, 1],
    'model.backbone.num_heads': [1, 1, 2, 2],
}

#: Fewer proposals and detections: the test is about the mask branch.
_FEW_BOXES = {
    'model.train_cfg.rpn_proposal.nms_pre': 200,
    'model.train_cfg.rpn_proposal.max_per_img': 100,
    'model.test_cfg.rpn.nms_pre': 100,
    'model.test_cfg.rpn.max_per_img': 50,
    'model.test_cfg.rcnn.max_per_img': 10,
}

#: family -> (base config, tiny-backbone overrides)
SEMANTIC = {
    'segformer': (
        'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
        {
            'model.backbone.embed_dims': 16,
            'model.backbone.num_layers': [1, 1, 1, 1],
            'model.decode_head.in_channels': [16, 32, 80, 128],
            'model.decode_head.channels': 32,
        },
    ),
    'swin-upernet': (
        'mmseg::swin/'
        'swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
        {
            **_SWIN_TINY,
            'model.decode_head.in_channels': [16, 32, 64, 128],
            'model.decode_head.channels': 32,
            'model.auxiliary_head.in_channels': 64,
            'model.auxiliary_head.channels': 16,
        },
    ),
    'hrnet': (
        'mmseg::hrnet/fcn_hr18_4xb2-80k_cityscapes-512x1024.py',
        _HRNET_TINY,
    ),
    'pspnet': (
        'mmseg::pspnet/pspnet_r50-d8_4xb2-80k_cityscapes-512x1024.py',
        {
            'model.backbone.depth': 18,
            'model.decode_head.in_channels': 512,
            'model.decode_head.channels': 32,
            'model.auxiliary_head.in_channels': 256,
            'model.auxiliary_head.channels': 16,
        },
    ),
}
INSTANCE = {
    'mask-rcnn-swin': (
        'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
        {
            **_SWIN_TINY,
            **_FEW_BOXES,
            'model.neck.in_channels': [16, 32, 64, 128],
        },
    ),
    'mask-rcnn-hrnet': (
        'mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py',
        {**_HRNET_TINY, **_FEW_BOXES},
    ),
    'cascade-mask-rcnn': (
        'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
        {
            **_FEW_BOXES,
            'model.backbone.depth': 18,
            'model.neck.in_channels': [64, 128, 256, 512],
        },
    ),
}


def _tiny(base: str, overrides: dict) -> Config:
    cfg = Config.fromfile(resolve_config(base))
    cfg.merge_from_dict(overrides)
    return cfg


def _sgd_step(model, loss):
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3
    )
    before = model.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return before


@pytest.mark.parametrize('family', sorted(SEMANTIC))
def test_semantic_family_trains_and_renders_at_input_resolution(family):
    base, overrides = SEMANTIC[family]
    result = pointrendify(_tiny(base, overrides), input_size=(64, 64))
    stride = result.probe.coarse_stride
    assert (
        result.model['test_cfg']['subdivision_steps']
        == stride.bit_length() - 1
    )
    cfg = result.config()
    torch.manual_seed(0)
    model, _ = build_model(cfg)
    assert type(model).__name__ == 'PointRendEncoderDecoder'
    num_classes = result.probe.num_classes
    inputs, samples = demo_seg_batch(2, (64, 64), num_classes)
    samples[1].gt_sem_seg.data[:] = 255  # an image with nothing labelled
    model.train()
    losses = model.loss(inputs, samples)
    assert {'decode_0.loss_ce', 'decode_1.loss_ce_point'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    before = _sgd_step(model, total)
    point_fc = 'decode_head.1.mlp.predictor.weight'
    assert not torch.equal(model.state_dict()[point_fc], before[point_fc])
    model.eval()
    with torch.no_grad():
        logits = model.encode_decode(inputs, [s.metainfo for s in samples])
        preds = model.predict(inputs, samples)
    assert logits.shape == (2, num_classes, 64, 64)
    assert preds[0].pred_sem_seg.data.shape == (1, 64, 64)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize('family', sorted(INSTANCE))
def test_instance_family_trains_and_renders(family):
    from mmdet.testing import demo_mm_inputs

    base, overrides = INSTANCE[family]
    result = pointrendify(_tiny(base, overrides), input_size=(64, 64))
    torch.manual_seed(0)
    model, _ = build_model(result.config())
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 96, 128), (3, 128, 96)],
        num_items=[3, 0],  # the second image has no instances
        num_classes=result.probe.num_classes,
        with_mask=True,
    )
    data = model.data_preprocessor(packed, True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    point = [k for k in losses if k.endswith('loss_point')]
    assert len(point) == 1  # one PointRend branch (the last stage's)
    total = sum(
        v if torch.is_tensor(v) else sum(v)
        for k, v in losses.items()
        if 'loss' in k
    )
    assert torch.isfinite(total)
    _sgd_step(model, total)
    model.eval()
    roi_head = model.roi_head
    branch = getattr(roi_head, 'mask_branch', roi_head)
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        rois = torch.tensor([[0, 4.0, 6, 60, 50], [1, 10, 0, 90, 120]])
        _, refined = branch.refine_masks(feats, rois, torch.tensor([1, 2]))
        assert refined.shape == (2, 1, 224, 224)  # 7x7 -> 224x224
        preds = model.predict(data['inputs'], data['data_samples'])
        for pred in preds:
            assert pred.pred_instances.masks.shape[1:] == pred.ori_shape
        roi_head.test_cfg.score_thr = 1.01  # nothing survives
        for pred in model.predict(data['inputs'], data['data_samples']):
            masks = pred.pred_instances.masks
            assert masks.shape == (0, *pred.ori_shape)


@pytest.mark.parametrize(
    'path', SHIPPED, ids=lambda p: osp.basename(p)[: -len('.py')]
)
def test_shipped_config_is_the_tool_output(path):
    text = open(path).read()
    ref = re.search(r"^_base_ = '(.+)'$", text, re.M).group(1)
    base = ref if '::' in ref else osp.join(osp.dirname(path), ref)
    assert text == pointrendify(base).text(ref)
    assert osp.basename(path) == 'pointrend_' + ref.rsplit('/', 1)[-1]


def test_shipped_families():
    """The families the docs list are shipped (one config each)."""
    assert len(SHIPPED) >= 9  # configs/any_model and the study's pairs
    names = {osp.basename(p) for p in SHIPPED}
    for family, (base, _) in {**SEMANTIC, **INSTANCE}.items():
        assert 'pointrend_' + base.rsplit('/', 1)[-1] in names, family


def test_command_line_writes_a_config_that_loads_and_builds(tmp_path):
    out = tmp_path / 'pointrend_segformer.py'
    base = SEMANTIC['segformer'][0]
    proc = run_tool('tools/misc/pointrendify.py', base, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'stride 4 -> 1' in proc.stdout and f'wrote {out}' in proc.stdout
    cfg = Config.fromfile(str(out))
    assert cfg.model.type == 'mmpointrend.PointRendEncoderDecoder'
    assert cfg.model.decode_head[0].type == 'SegformerHead'
    # an existing file is kept without --force; the input never overwritten
    proc = run_tool('tools/misc/pointrendify.py', base, out, '--steps', '3')
    assert proc.returncode == 2 and '--force' in proc.stderr
    proc = run_tool(
        'tools/misc/pointrendify.py', out, out, '--force', '--no-check'
    )
    assert proc.returncode == 2 and 'is the input' in proc.stderr
    proc = run_tool(
        'tools/misc/pointrendify.py',
        base,
        out,
        '--force',
        '--fine-levels',
        '0',
        '1',
        '--steps',
        '3',
        '--num-points',
        '1000',
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = Config.fromfile(str(out))
    assert cfg.model.decode_head[1].in_index == [0, 1]
    assert cfg.model.decode_head[1].in_channels == [32, 64]
    assert cfg.model.test_cfg.subdivision_steps == 3
    # a local base is named relative to the written file
    local = tmp_path / 'sub' / 'again.py'
    local.parent.mkdir()
    proc = run_tool('tools/misc/pointrendify.py', str(out), local)
    assert proc.returncode == 2 and 'already a PointRend' in proc.stderr


@pytest.mark.parametrize(
    'base, overrides, message',
    [
        (
            'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
            {
                'model.backbone.depth': 18,
                'model.neck.in_channels': [64, 128, 256, 512],
            },
            'no mask head',
        ),
        (
            'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py',
            {
                'model.backbone.depth': 18,
                'model.backbone.dilations': (1, 1, 1, 1),
                'model.backbone.strides': (1, 2, 2, 2),
                'model.backbone.out_indices': (3,),
                'model.decode_head.in_index': 0,
                'model.decode_head.in_channels': 512,
                'model.auxiliary_head': None,
            },
            'no stride-4 or stride-8',
        ),
        (
            'mmseg::ocrnet/ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py',
            {},
            'not an mmseg EncoderDecoder',
        ),
        (
            'mmdet::htc/htc_r50_fpn_1x_coco.py',
            {
                'model.backbone.depth': 18,
                'model.neck.in_channels': [64, 128, 256, 512],
            },
            'HybridTaskCascadeRoIHead is not supported',
        ),
    ],
    ids=['faster-rcnn', 'stride-32-only', 'ocrnet-cascade', 'htc'],
)
def test_models_it_cannot_convert_are_named(base, overrides, message):
    with pytest.raises(PointRendifyError, match=message):
        pointrendify(_tiny(base, overrides), input_size=(64, 64))


@pytest.mark.slow
def test_generated_config_trains_with_tools_train_py(tmp_path):
    """A config the tool wrote trains and validates with tools/train.py."""
    from mmpointrend.dataset_makers import generate_synthetic_dataset

    root = str(tmp_path / 'data')
    generate_synthetic_dataset(root, num_train=2, num_val=1, size=128, seed=2)
    config = osp.join(
        ROOT,
        'configs/synthetic/'
        'pointrend_segformer_mit-slim_2xb4-600_synthetic-256x256.py',
    )
    proc = run_tool(
        'tools/train.py', config, '--work-dir', tmp_path / 'work',
        '--cfg-options',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
        'param_scheduler.1.end=2',
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'decode_1.loss_ce_point' in out and 'mBIoU' in out, out[-3000:]
