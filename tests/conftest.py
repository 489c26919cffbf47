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
