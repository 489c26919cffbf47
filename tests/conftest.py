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


#: Inverse of mmpointrend.converters' rules: our keys in the key layout of
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
