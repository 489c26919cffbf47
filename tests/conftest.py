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


#: Inverse of mmpointrend.checkpoint.foreign' rules: our keys in the key layout of
#: mmseg's PointHead / mmdet's PointRendRoIHead (test inputs in the
#: publishers' formats).
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


def to_foreign_layout(state: dict, layout: str) -> dict:
    """Our state dict with mmseg's or mmdet's PointRend key names."""
    import re

    out = {}
    for key, value in state.items():
        for pattern, repl in _FOREIGN_RULES[layout]:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def to_detectron2_layout(state: dict) -> dict:
    """Our Mask R-CNN state dict as a detectron2 model-zoo ``model`` dict.

    Names as in detectron2's PointRend R-CNN pickles, values as numpy arrays
    (what its ``.pkl`` files hold); BN batch counters are dropped, as
    detectron2's frozen BN has none.
    """
    import re

    from mmpointrend.checkpoint.foreign import _D2_FIXED

    inverse = {ours: theirs for theirs, ours in _D2_FIXED.items()}

    def name(key: str) -> str:
        stem, _, param = key.rpartition('.')
        if stem in inverse:
            return f'{inverse[stem]}.{param}'
        if key.startswith('neck.'):
            kind, level = re.match(r'neck\.(\w+)_convs\.(\d)\.', key).groups()
            kind = 'lateral' if kind == 'lateral' else 'output'
            return f'backbone.fpn_{kind}{int(level) + 2}.{param}'
        stem_match = re.fullmatch(r'backbone\.(conv1|bn1)\.(\w+)', key)
        if stem_match:
            norm = '.norm' if stem_match.group(1) == 'bn1' else ''
            return f'backbone.bottom_up.stem.conv1{norm}.{param}'
        layer, block, rest = re.fullmatch(
            r'backbone\.layer(\d)\.(\d+)\.(.+)', key
        ).groups()
        prefix = f'backbone.bottom_up.res{int(layer) + 1}.{block}'
        rest = re.sub(r'^downsample\.0\.', 'shortcut.', rest)
        rest = re.sub(r'^downsample\.1\.', 'shortcut.norm.', rest)
        rest = re.sub(r'^bn(\d)\.', r'conv\1.norm.', rest)
        return f'{prefix}.{rest}'

    return {
        name(key): value.detach().cpu().numpy()
        for key, value in state.items()
        if not key.endswith('num_batches_tracked')
    }
