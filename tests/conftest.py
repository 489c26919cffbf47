"""Shared helpers for the test suite."""

import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The small CPU configs most runner-level tests use.
SEM_CONFIG = osp.join(
    ROOT,
    'configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py',
)
INS_CONFIG = osp.join(
    ROOT,
    'configs/synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
)


def run_tool(script, *args):
    """Run ``python tools/...`` from the repository root; return the process."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, script, *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


#: Our keys in the key layout of mmseg's PointHead / mmdet's
#: PointRendRoIHead, written from those classes' module names (test inputs
#: in the publishers' formats and the oracle the converters are held to).
_FOREIGN_RULES = {
    'mmseg': (
        (r'^decode_head\.1\.mlp\.fcs\.(\d+)\.', r'decode_head.1.fcs.\1.conv.'),
        (r'^decode_head\.1\.mlp\.predictor\.', 'decode_head.1.fc_seg.'),
    ),
    'mmdet': (
        (
            r'^roi_head\.point_head\.mlp\.fcs\.(\d+)\.',
            r'roi_head.point_head.fcs.\1.conv.',
        ),
        (
            r'^roi_head\.point_head\.mlp\.predictor\.',
            'roi_head.point_head.fc_logits.',
        ),
        (
            r'^roi_head\.mask_head\.downsample_conv\.',
            'roi_head.mask_head.downsample_conv.conv.',
        ),
    ),
}


def foreign_name(key: str, layout: str) -> str:
    """Our key as mmseg's (``'mmseg'``) or mmdet's (``'mmdet'``) PointRend names it."""
    import re

    for pattern, repl in _FOREIGN_RULES[layout]:
        key = re.sub(pattern, repl, key)
    return key


def to_foreign_layout(state: dict, layout: str) -> dict:
    """Our state dict with mmseg's or mmdet's PointRend key names."""
    return {foreign_name(key, layout): value for key, value in state.items()}


#: Our key -> detectron2's, written here from detectron2's module names
#: (``ResNet``'s ``stem``/``res2..5``, ``FPN``'s ``fpn_lateral``/``fpn_output``,
#: ``StandardRPNHead``, ``FastRCNNConvFCHead``, ``CoarseMaskHead``,
#: ``StandardPointHead``, ``SemSegFPNHead``), not derived from
#: mmpointrend.checkpoint.foreign: the tests hold the converter to it.
_D2_NAMES = (
    (r'backbone\.conv1\.', 'backbone.bottom_up.stem.conv1.'),
    (r'backbone\.bn1\.', 'backbone.bottom_up.stem.conv1.norm.'),
    (
        r'backbone\.layer(\d)\.(\d+)\.downsample\.0\.',
        lambda m: f'backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.shortcut.',
    ),
    (
        r'backbone\.layer(\d)\.(\d+)\.downsample\.1\.',
        lambda m: (
            f'backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.shortcut.norm.'
        ),
    ),
    (
        r'backbone\.layer(\d)\.(\d+)\.conv(\d)\.',
        lambda m: f'backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.',
    ),
    (
        r'backbone\.layer(\d)\.(\d+)\.bn(\d)\.',
        lambda m: (
            f'backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.norm.'
        ),
    ),
    (
        r'neck\.lateral_convs\.(\d)\.conv\.',
        lambda m: f'backbone.fpn_lateral{int(m[1]) + 2}.',
    ),
    (
        r'neck\.fpn_convs\.(\d)\.conv\.',
        lambda m: f'backbone.fpn_output{int(m[1]) + 2}.',
    ),
    (r'rpn_head\.rpn_conv\.', 'proposal_generator.rpn_head.conv.'),
    (r'rpn_head\.rpn_cls\.', 'proposal_generator.rpn_head.objectness_logits.'),
    (r'rpn_head\.rpn_reg\.', 'proposal_generator.rpn_head.anchor_deltas.'),
    (r'roi_head\.bbox_head\.shared_fcs\.0\.', 'roi_heads.box_head.fc1.'),
    (r'roi_head\.bbox_head\.shared_fcs\.1\.', 'roi_heads.box_head.fc2.'),
    (r'roi_head\.bbox_head\.fc_cls\.', 'roi_heads.box_predictor.cls_score.'),
    (r'roi_head\.bbox_head\.fc_reg\.', 'roi_heads.box_predictor.bbox_pred.'),
    (
        r'roi_head\.mask_head\.downsample_conv\.',
        'roi_heads.mask_head.coarse_head.reduce_spatial_dim_conv.',
    ),
    (r'roi_head\.mask_head\.fcs\.0\.', 'roi_heads.mask_head.coarse_head.fc1.'),
    (r'roi_head\.mask_head\.fcs\.1\.', 'roi_heads.mask_head.coarse_head.fc2.'),
    (
        r'roi_head\.mask_head\.fc_logits\.',
        'roi_heads.mask_head.coarse_head.prediction.',
    ),
    (
        r'roi_head\.point_head\.mlp\.fcs\.(\d)\.',
        lambda m: f'roi_heads.mask_head.point_head.fc{int(m[1]) + 1}.',
    ),
    (
        r'roi_head\.point_head\.mlp\.predictor\.',
        'roi_heads.mask_head.point_head.predictor.',
    ),
    (
        r'decode_head\.0\.scale_heads\.(\d)\.(\d+)\.conv\.',
        lambda m: f'sem_seg_head.coarse_sem_seg_head.p{int(m[1]) + 2}.{m[2]}.',
    ),
    (
        r'decode_head\.0\.scale_heads\.(\d)\.(\d+)\.gn\.',
        lambda m: (
            f'sem_seg_head.coarse_sem_seg_head.p{int(m[1]) + 2}.{m[2]}.norm.'
        ),
    ),
    (
        r'decode_head\.0\.conv_seg\.',
        'sem_seg_head.coarse_sem_seg_head.predictor.',
    ),
    (
        r'decode_head\.1\.mlp\.fcs\.(\d)\.',
        lambda m: f'sem_seg_head.point_head.fc{int(m[1]) + 1}.',
    ),
    (
        r'decode_head\.1\.mlp\.predictor\.',
        'sem_seg_head.point_head.predictor.',
    ),
)

#: detectron2's mask-head names before its 2020-11-13 rename.
_D2_OLD_NAMES = (
    (
        r'roi_heads\.mask_head\.coarse_head\.fc(\d)\.',
        r'roi_heads.mask_coarse_head.coarse_mask_fc\1.',
    ),
    (r'roi_heads\.mask_head\.coarse_head\.', 'roi_heads.mask_coarse_head.'),
    (r'roi_heads\.mask_head\.point_head\.', 'roi_heads.mask_point_head.'),
)

#: detectron2's caffe-style input normalisation (BGR), its default.
D2_CAFFE_PIXEL = ((103.53, 116.28, 123.675), (1.0, 1.0, 1.0))


def detectron2_name(key: str, old_layout: bool = False) -> str:
    """Our state-dict key as detectron2 names it (one rule must match)."""
    import re

    for pattern, repl in _D2_NAMES:
        match = re.match(pattern, key)
        if match:
            head = repl(match) if callable(repl) else repl
            name = head + key[match.end() :]
            break
    else:
        raise KeyError(f'no detectron2 name for {key!r} in the test table')
    if old_layout:
        for pattern, repl in _D2_OLD_NAMES:
            name, count = re.subn(f'^{pattern}', repl, name)
            if count:
                break
    return name


def to_detectron2_layout(
    state: dict, old_layout: bool = False, pixel: tuple | None = None
) -> dict:
    """Our state dict as a detectron2 model-zoo ``model`` dict.

    Names as in detectron2's PointRend pickles (:func:`detectron2_name`),
    values as numpy arrays (what its ``.pkl`` files hold); BN batch counters
    are dropped, as detectron2's frozen BN has none. ``pixel``: the
    ``(mean, std)`` the pickle carries as ``pixel_mean``/``pixel_std``
    (BGR order, shape (3, 1, 1)); detectron2's caffe default if None.
    """
    import numpy as np

    out = {
        detectron2_name(key, old_layout): value.detach().cpu().numpy()
        for key, value in state.items()
        if not key.endswith('num_batches_tracked')
    }
    mean, std = pixel or D2_CAFFE_PIXEL
    out['pixel_mean'] = np.array(mean, np.float32).reshape(3, 1, 1)
    out['pixel_std'] = np.array(std, np.float32).reshape(3, 1, 1)
    return out
